//! The published bundle: a content-addressed directory under `pkg/`, its precompressed files, and `bundle.json`.

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Where the server finds which build to serve, relative to the site's root.
pub const MANIFEST: &str = "bundle.json";

/// Hex digits of the SHA-256 kept in a build's directory name: 64 bits, more than enough to tell builds apart.
const ID_HEX_DIGITS: usize = 16;

/// One digest over several inputs, each length-prefixed so that no two different lists hash alike.
pub fn inputs_digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

pub struct FileSizes {
    pub name: String,
    pub bytes: u64,
    pub gzip: u64,
    pub brotli: u64,
}

/// What the browser fetches when a page of one section is its first: the files every page needs and the
/// section's own (its split module and the chunks it shares with others).
pub struct FirstLoad {
    pub section: String,
    pub files: usize,
    pub bytes: u64,
    pub gzip: u64,
    pub brotli: u64,
}

pub struct Manifest {
    /// What the build was made from; an unchanged input needs no new build.
    pub inputs: String,
    /// The directory the files are in, relative to the site's root: `pkg/<hash>`.
    pub pkg_dir: String,
    /// Whether wasm-opt ran (a release build): only then do the sizes say what users download.
    pub optimized: bool,
    pub files: Vec<FileSizes>,
    /// Heaviest first.
    pub first_loads: Vec<FirstLoad>,
}

impl Manifest {
    pub fn read(site: &Path) -> Option<Manifest> {
        let value: Value = serde_json::from_slice(&std::fs::read(site.join(MANIFEST)).ok()?).ok()?;
        Some(Manifest {
            inputs: value["inputs"].as_str()?.to_string(),
            pkg_dir: value["pkg_dir"].as_str()?.to_string(),
            optimized: value["optimized"].as_bool()?,
            // Only the build's identity matters to a reader that decides whether to rebuild.
            files: Vec::new(),
            first_loads: Vec::new(),
        })
    }

    pub fn dir(&self, site: &Path) -> PathBuf {
        site.join(&self.pkg_dir)
    }

    pub fn write(&self, site: &Path) -> Result<()> {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| json!({"name": f.name, "bytes": f.bytes, "gzip": f.gzip, "brotli": f.brotli}))
            .collect();
        let first_loads: Vec<Value> = self
            .first_loads
            .iter()
            .map(|f| json!({"section": f.section, "files": f.files, "bytes": f.bytes, "gzip": f.gzip, "brotli": f.brotli}))
            .collect();
        let value = json!({
            "inputs": self.inputs,
            "pkg_dir": self.pkg_dir,
            "optimized": self.optimized,
            "first_loads": first_loads,
            "files": files,
        });
        // Written beside and renamed, so that a server starting meanwhile reads the old manifest or the new one.
        let path = site.join(MANIFEST);
        let partial = site.join(format!("{MANIFEST}.partial"));
        std::fs::write(&partial, serde_json::to_vec_pretty(&value)?)?;
        std::fs::rename(&partial, &path)?;
        Ok(())
    }

    /// Bytes of every file, raw and with brotli.
    pub fn totals(&self) -> (u64, u64) {
        self.files.iter().fold((0, 0), |(raw, br), f| (raw + f.bytes, br + f.brotli))
    }
}

pub fn files_with_extension(dir: &Path, extension: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> =
        files_in(dir)?.into_iter().filter(|path| path.extension().is_some_and(|e| e == extension)).collect();
    // Largest first: with several workers, the longest job should not start last.
    files.sort_by_key(|path| std::cmp::Reverse(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)));
    Ok(files)
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Runs `job` on every item, on as many threads as the machine has cores; the first error wins.
pub fn for_each_parallel<T: Sync>(items: &[T], job: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                if let Err(err) = job(item) {
                    first_error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(err);
                    break;
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Moves the finished files from `staging` into `pkg/<hash of their content>`, precompresses them, removes all
/// but the newest `keep_previous` earlier builds, and describes the result.
pub fn publish(
    staging: &Path,
    pkg: &Path,
    inputs: String,
    optimized: bool,
    sections: &HashMap<String, Vec<String>>,
    keep_previous: usize,
) -> Result<Manifest> {
    let files = files_in(staging)?;
    let mut hasher = Sha256::new();
    for file in &files {
        let name = file_name(file)?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        let content = std::fs::read(file)?;
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    let id = hex::encode(hasher.finalize())[..ID_HEX_DIGITS].to_string();
    let dir = pkg.join(&id);
    if dir.exists() {
        // The same content was built before (a rebuild after switching back): it is already there.
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::rename(staging, &dir)?;

    let files = files_in(&dir)?;
    let sizes = Mutex::new(Vec::new());
    for_each_parallel(&files, |file| {
        let size = precompress(file)?;
        sizes.lock().unwrap_or_else(|e| e.into_inner()).push(size);
        Ok(())
    })?;
    let mut files = sizes.into_inner().unwrap_or_else(|e| e.into_inner());
    files.sort_by(|a, b| a.name.cmp(&b.name));
    prune(pkg, &id, keep_previous)?;
    let first_loads = first_loads(&files, sections);
    Ok(Manifest { inputs, pkg_dir: format!("pkg/{id}"), optimized, files, first_loads })
}

/// `sections`: each split's name and the modules (file stems) it needs, as the splitter reported them.
fn first_loads(files: &[FileSizes], sections: &HashMap<String, Vec<String>>) -> Vec<FirstLoad> {
    let by_name: HashMap<&str, &FileSizes> = files.iter().map(|f| (f.name.as_str(), f)).collect();
    let split_modules: HashSet<String> = sections.values().flatten().map(|stem| format!("{stem}.wasm")).collect();
    // Every page needs what no split owns: the main module, its JavaScript, the split loader, the stylesheet.
    // The splitter's manifest is read by the server, never fetched.
    let always: Vec<&FileSizes> = files
        .iter()
        .filter(|f| !split_modules.contains(&f.name) && !f.name.ends_with(".json") && !f.name.ends_with(".wasm.map"))
        .collect();
    let mut loads: Vec<FirstLoad> = sections
        .iter()
        .map(|(split, stems)| {
            let own = stems.iter().filter_map(|stem| by_name.get(format!("{stem}.wasm").as_str()).copied());
            let all: Vec<&FileSizes> = always.iter().copied().chain(own).collect();
            FirstLoad {
                // The splitter appends a hash of where the split was declared: `admin_section_1663…`.
                section: split.rsplit_once('_').map_or(split.as_str(), |(name, _)| name).to_string(),
                files: all.len(),
                bytes: all.iter().map(|f| f.bytes).sum(),
                gzip: all.iter().map(|f| f.gzip).sum(),
                brotli: all.iter().map(|f| f.brotli).sum(),
            }
        })
        .collect();
    loads.sort_by(|a, b| b.brotli.cmp(&a.brotli).then_with(|| a.section.cmp(&b.section)));
    loads
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} has no UTF-8 file name", path.display()))
}

/// Writes `<file>.br` and `<file>.gz` beside `file`, each at its format's best compression.
fn precompress(file: &Path) -> Result<FileSizes> {
    let content = std::fs::read(file)?;
    let name = file_name(file)?;

    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&content)?;
    let gzip = gzip.finish()?;
    std::fs::write(file.with_file_name(format!("{name}.gz")), &gzip)?;

    let mut brotli = Vec::new();
    {
        // Quality 11 and a 4 MiB window (lgwin 22): the best ratio, once per build.
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 1 << 16, 11, 22);
        writer.write_all(&content)?;
    }
    std::fs::write(file.with_file_name(format!("{name}.br")), &brotli)?;

    Ok(FileSizes { name, bytes: content.len() as u64, gzip: gzip.len() as u64, brotli: brotli.len() as u64 })
}

/// Removes earlier builds beyond the newest `keep`, never the current one.
fn prune(pkg: &Path, current: &str, keep: usize) -> Result<()> {
    let mut builds = Vec::new();
    for entry in std::fs::read_dir(pkg)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let is_build = name.len() == ID_HEX_DIGITS && name.bytes().all(|b| b.is_ascii_hexdigit());
        if entry.file_type()?.is_dir() && is_build && name != current {
            builds.push((entry.metadata()?.modified()?, entry.path()));
        }
    }
    builds.sort_by_key(|build| std::cmp::Reverse(build.0));
    for (_, path) in builds.into_iter().skip(keep) {
        std::fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}
