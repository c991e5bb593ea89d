//! The WebAssembly features a module uses, as binaryen's `--enable-…` flags. rustc records them in the module's
//! `target_features` section (since Rust 1.82 they include reference types and multi-value by default); an
//! optimizer that is not told of one either refuses the module or rewrites it into one the browser rejects.

use anyhow::{bail, Result};
use wasmparser::{BinaryReader, Parser, Payload};

/// Binaryen's flag for each feature LLVM may list, where the names differ or one implies another.
fn binaryen_name(llvm_name: &str) -> Option<&'static str> {
    Some(match llvm_name {
        "atomics" => "threads",
        "bulk-memory" | "bulk-memory-opt" => "bulk-memory",
        // LEB-encoded table indices in call_indirect: part of reference types for binaryen.
        "call-indirect-overlong" | "reference-types" => "reference-types",
        "exception-handling" => "exception-handling",
        "extended-const" => "extended-const",
        "multimemory" => "multimemory",
        "multivalue" => "multivalue",
        "mutable-globals" => "mutable-globals",
        "nontrapping-fptoint" => "nontrapping-float-to-int",
        "relaxed-simd" => "relaxed-simd",
        "sign-ext" => "sign-ext",
        "simd128" => "simd",
        "tail-call" => "tail-call",
        "gc" => "gc",
        _ => return None,
    })
}

/// `--enable-<feature>` for every feature the module's `target_features` section marks as used (`+`).
pub fn binaryen_flags(wasm: &[u8]) -> Result<Vec<String>> {
    let mut flags = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Payload::CustomSection(section) = payload? else { continue };
        if section.name() != "target_features" {
            continue;
        }
        let mut reader = BinaryReader::new(section.data(), 0);
        for _ in 0..reader.read_var_u32()? {
            let prefix = reader.read_u8()?;
            let name = reader.read_string()?;
            if prefix != b'+' {
                continue;
            }
            let Some(flag) = binaryen_name(name) else { bail!("no binaryen flag known for the feature `{name}`") };
            let flag = format!("--enable-{flag}");
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        }
    }
    if flags.is_empty() {
        bail!("the module has no target_features section: build it with rustc, which records its features");
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with nothing but a `target_features` section listing `features` (prefix, name).
    fn module_with_features(features: &[(u8, &str)]) -> Vec<u8> {
        let mut payload = vec![features.len() as u8];
        for (prefix, name) in features {
            payload.push(*prefix);
            payload.push(name.len() as u8);
            payload.extend_from_slice(name.as_bytes());
        }
        let section_name = b"target_features";
        let mut section = vec![section_name.len() as u8];
        section.extend_from_slice(section_name);
        section.extend_from_slice(&payload);
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.push(0);
        module.push(section.len() as u8);
        module.extend_from_slice(&section);
        module
    }

    #[test]
    fn used_features_become_flags_once_each() {
        let wasm = module_with_features(&[
            (b'+', "reference-types"),
            (b'+', "call-indirect-overlong"),
            (b'+', "nontrapping-fptoint"),
            (b'-', "simd128"),
            (b'+', "multivalue"),
        ]);
        assert_eq!(
            binaryen_flags(&wasm).unwrap(),
            ["--enable-reference-types", "--enable-nontrapping-float-to-int", "--enable-multivalue"]
        );
    }

    #[test]
    fn an_unknown_feature_or_no_section_is_an_error() {
        assert!(binaryen_flags(&module_with_features(&[(b'+', "stack-switching")])).is_err());
        assert!(binaryen_flags(b"\0asm\x01\0\0\0").is_err());
    }
}
