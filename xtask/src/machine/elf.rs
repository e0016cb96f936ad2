//! Reading ELF files' headers, the one reader crosslab has: whether a
//! program is static or which loader it needs (`PT_INTERP`), whether it has a
//! `DT_RUNPATH`, and its machine. Only the headers and the segments asked
//! for are read: a static qemu is megabytes, and the doctor looks at dozens.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What an interpreter file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executable {
    Missing,
    /// An ELF file; `Some(loader)` when dynamically linked (PT_INTERP).
    Elf(Option<String>),
    /// A script: its `#!` line's program.
    Script(String),
    Other,
}

/// What crosslab reads of an ELF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elf {
    /// `PT_INTERP`: set for dynamically linked programs.
    pub interpreter: Option<String>,
    /// Whether it has a `DT_RUNPATH`, which hides the program's RPATH from
    /// the lookup of its own dependencies (libLLVM's `$ORIGIN/../lib`).
    pub runpath: bool,
    /// `e_machine` (183 aarch64, 62 x86_64, 40 arm, …).
    pub machine: u16,
}

/// Reads `path`'s ELF headers; `Ok(None)` when it is not an ELF file.
pub fn read(path: &Path) -> std::io::Result<Option<Elf>> {
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 64];
    let n = read_up_to(&mut file, &mut head)?;
    if n < 52 || &head[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let (is64, big) = (head[4] == 2, head[5] == 2);
    let int = |bytes: &[u8]| -> u64 {
        let mut v = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            let shift = if big { (bytes.len() - 1 - i) * 8 } else { i * 8 };
            v |= u64::from(*b) << shift;
        }
        v
    };
    let (phoff, phentsize, phnum) = if is64 {
        (int(&head[32..40]), int(&head[54..56]), int(&head[56..58]))
    } else {
        (int(&head[28..32]), int(&head[42..44]), int(&head[44..46]))
    };
    let mut elf = Elf { machine: int(&head[18..20]) as u16, ..Elf::default() };
    if phentsize < if is64 { 56 } else { 32 } || phnum > 4096 {
        return Ok(Some(elf));
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff))?;
    let got = read_up_to(&mut file, &mut table)?;
    table.truncate(got);
    for ph in table.chunks_exact(phentsize as usize) {
        let (offset, size) =
            if is64 { (int(&ph[8..16]), int(&ph[32..40])) } else { (int(&ph[4..8]), int(&ph[16..20])) };
        let kind = int(&ph[0..4]);
        if kind != 2 && kind != 3 {
            continue;
        }
        // A segment of a real program is small; a bigger one is not read.
        let mut bytes = vec![0u8; size.min(1 << 20) as usize];
        if file.seek(SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let got = read_up_to(&mut file, &mut bytes)?;
        bytes.truncate(got);
        match kind {
            3 => elf.interpreter = Some(String::from_utf8_lossy(&bytes).trim_end_matches('\0').to_owned()),
            _ => {
                let entry = if is64 { 16 } else { 8 };
                elf.runpath =
                    bytes.chunks_exact(entry).map(|e| int(&e[..entry / 2])).take_while(|t| *t != 0).any(|t| t == 29);
            }
        }
    }
    Ok(Some(elf))
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// What `path` is: missing, an ELF file (static or with its loader), a
/// script (its `#!` program), or something else.
pub fn executable(path: &Path) -> Executable {
    let mut start = [0u8; 256];
    let Ok(mut file) = std::fs::File::open(path) else { return Executable::Missing };
    let Ok(n) = read_up_to(&mut file, &mut start) else { return Executable::Missing };
    if let Some(rest) = start[..n].strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        let program = String::from_utf8_lossy(line).split_whitespace().next().unwrap_or("").to_owned();
        return Executable::Script(program);
    }
    match read(path) {
        Ok(Some(elf)) => Executable::Elf(elf.interpreter),
        Ok(None) => Executable::Other,
        Err(_) => Executable::Missing,
    }
}
