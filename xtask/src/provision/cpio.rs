//! Writing initramfs archives in the kernel's `newc` cpio format, so the VM's
//! early userspace needs no `cpio` program on the host. The kernel unpacks
//! concatenated archives in order: the cached base (busybox, drivers) and a
//! small per-run one (the init scripts) are simply appended.

/// An archive being built in memory.
#[derive(Default)]
pub struct Cpio {
    bytes: Vec<u8>,
    next_inode: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

impl Cpio {
    pub fn new() -> Cpio {
        Cpio { bytes: Vec::new(), next_inode: 1 }
    }

    /// A directory; parents must have been added before.
    pub fn dir(&mut self, path: &str) {
        self.entry(path, S_IFDIR | 0o755, b"");
    }

    /// A regular file with permission bits `mode` (e.g. 0o755).
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (mode & 0o7777), data);
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, b"");
        self.bytes
    }

    fn entry(&mut self, path: &str, mode: u32, data: &[u8]) {
        let name = path.trim_start_matches('/');
        let ino = self.next_inode;
        self.next_inode += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cpio;

    #[test]
    fn entries_are_aligned_and_end_with_the_trailer() {
        let mut c = Cpio::new();
        c.dir("bin");
        c.file("/bin/x", 0o755, b"abc");
        let bytes = c.finish();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("bin/x\0") && text.contains("abc") && text.contains("TRAILER!!!\0"));
        // The file entry's header: mode 100755, size 3, name length 6.
        assert!(text.contains("000081ed"), "{text}");
        assert!(text.contains("0000000300000000000000000000000000000000000000060"), "{text}");
    }
}
