//! `bundle`: turns the hydrate build of intentlab (the `.wasm` cargo writes for wasm32) into the files the server
//! serves under `/pkg`, the way cargo-leptos would with `--split --release --hash-files --precompress`:
//!
//! 1. split the module at Leptos' lazy routes (`wasm_split_cli_support`, the splitter cargo-leptos uses), so a
//!    page's code is fetched when the page is first shown;
//! 2. bind it to JavaScript (`wasm-bindgen`, the CLI at the version of the crate in Cargo.lock);
//! 3. optimize every module for size (`wasm-opt -Oz`, with the WebAssembly features the module declares);
//! 4. put the files in a directory named by the hash of their content, `pkg/<hash>/`, so that every name is
//!    content-addressed and the browser may cache them forever — the hash is the build's rather than each file's
//!    because the chunks refer to one another and to the main module by name, and any change to the code
//!    renumbers what they share anyway;
//! 5. precompress each file (brotli and gzip, at their best levels) for the server to send as it is;
//! 6. write `bundle.json` at the site's root: the directory (which the server reads at start-up) and every file's
//!    size raw and compressed (which `make bench` reports).
//!
//! A run whose inputs (the module, the stylesheet, the mode) are those of the last one does nothing.

mod features;
mod site;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name of the bundle's JavaScript and WebAssembly files (Leptos' `output_name`).
const NAME: &str = "intentlab";
/// How the main module imports the split modules' loader: by a relative path, since the files move together into
/// their content-addressed directory, under the name Leptos' `HydrationScripts` preloads.
const SPLIT_LOADER: &str = "./__wasm_split.______________________.js";
/// Older builds kept beside the current one, for pages that were loaded before a deploy and still fetch chunks.
const KEEP_PREVIOUS_BUILDS: usize = 3;

#[derive(Parser, Debug)]
#[command(about = "Split, bind, optimize, content-address and precompress the intentlab browser bundle")]
struct Args {
    /// The hydrate build's module (target/wasm32-unknown-unknown/<profile>/intentlab.wasm), linked with
    /// `--emit-relocs` so that it can be split.
    #[arg(long)]
    wasm: PathBuf,
    /// The stylesheet served beside the bundle.
    #[arg(long)]
    css: PathBuf,
    /// The site's root (the server's INTENTLAB_SITE_ROOT); the bundle goes to its `pkg/` directory.
    #[arg(long)]
    site: PathBuf,
    /// Run `wasm-opt -Oz` on every module (release builds).
    #[arg(long)]
    optimize: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let wasm = std::fs::read(&args.wasm).with_context(|| format!("reading {}", args.wasm.display()))?;
    let css = std::fs::read(&args.css).with_context(|| format!("reading {}", args.css.display()))?;
    // The tool itself is an input too: a changed tool may lay out the same module differently.
    let tool = std::fs::read(std::env::current_exe()?)?;
    let inputs = site::inputs_digest(&[&tool, &wasm, &css, if args.optimize { b"optimize" } else { b"plain" }]);
    if let Some(current) = site::Manifest::read(&args.site).filter(|m| m.inputs == inputs && m.dir(&args.site).is_dir())
    {
        println!("bundle {} is up to date", current.pkg_dir);
        return Ok(());
    }

    let pkg = args.site.join("pkg");
    let staging = pkg.join(".staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;

    let split_main = staging.join(format!("{NAME}_split.wasm"));
    let sections = split(&wasm, &staging, &split_main)?;
    bindgen(&split_main, &staging)?;
    std::fs::remove_file(&split_main)?;
    if args.optimize {
        check_wasm_opt()?;
        let flags = features::binaryen_flags(&wasm)?;
        let modules = site::files_with_extension(&staging, "wasm")?;
        site::for_each_parallel(&modules, |module| optimize(module, &flags))?;
    }
    std::fs::copy(&args.css, staging.join(format!("{NAME}.css")))?;

    let manifest = site::publish(&staging, &pkg, inputs, args.optimize, &sections, KEEP_PREVIOUS_BUILDS)?;
    manifest.write(&args.site)?;
    let (raw, brotli) = manifest.totals();
    println!(
        "bundle {}: {} files, {:.0} KB, {:.0} KB with brotli",
        manifest.pkg_dir,
        manifest.files.len(),
        raw as f64 / 1000.0,
        brotli as f64 / 1000.0
    );
    for load in &manifest.first_loads {
        println!(
            "  first load of a {:<24} {:>4} files, {:>5.0} KB with brotli ({:.0} KB with gzip)",
            format!("{}:", load.section),
            load.files,
            load.brotli as f64 / 1000.0,
            load.gzip as f64 / 1000.0
        );
    }
    Ok(())
}

/// Splits the module at its split points (Leptos' `#[lazy]` functions and lazy routes): the main module, one
/// module per split, chunks of code several splits share, and the JavaScript loader that fetches them. Returns
/// each split's name with the modules it needs.
fn split(wasm: &[u8], out_dir: &Path, main_out: &Path) -> Result<HashMap<String, Vec<String>>> {
    let main_module = format!("./{NAME}.js");
    let mut options = wasm_split_cli_support::Options::new(wasm);
    options.output_dir = out_dir;
    options.main_out_path = main_out;
    options.link_name = SPLIT_LOADER;
    options.main_module = &main_module;
    let split = wasm_split_cli_support::transform(options).map_err(|err| anyhow!("splitting the module: {err:?}"))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
    // Leptos reads this to preload, with the page, the modules its lazy routes need.
    std::fs::write(out_dir.join("__wasm_split_manifest.json"), manifest)?;
    Ok(split.prefetch_map)
}

fn bindgen(main: &Path, out_dir: &Path) -> Result<()> {
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--out-name", NAME])
        // The split modules link against functions the linker exported from the main module, under their
        // mangled names: wasm-bindgen must keep both.
        .args(["--keep-lld-exports", "--no-demangle"])
        .arg("--out-dir")
        .arg(out_dir)
        .arg(main))
}

/// Binaryen before 116 turns what today's rustc and wasm-bindgen emit into a module the browser refuses.
const WASM_OPT_MIN_VERSION: u32 = 116;

fn check_wasm_opt() -> Result<()> {
    let output = Command::new("wasm-opt").arg("--version").output().context("running wasm-opt --version")?;
    // "wasm-opt version 116 (version_116)"
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().nth(2).and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(v) if v >= WASM_OPT_MIN_VERSION => Ok(()),
        _ => bail!(
            "wasm-opt {WASM_OPT_MIN_VERSION} or newer is needed, found `{}` (scripts/setup-toolchain.sh installs it)",
            text.trim()
        ),
    }
}

fn optimize(module: &Path, feature_flags: &[String]) -> Result<()> {
    let mut command = Command::new("wasm-opt");
    command.arg("-Oz").args(feature_flags).arg(module).arg("-o").arg(module);
    // wasm-opt warns about every split module's name section (the splitter keeps names that point past what
    // the module holds); the names are dropped anyway, so its output is shown only when it fails.
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
