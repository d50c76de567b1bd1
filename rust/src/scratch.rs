//! Scratch directories: where a pool's workers and their programs may write, and how they are removed.
//!
//! Why not `std::fs::remove_dir_all`: a program owns what it writes and may leave a directory it made unreadable
//! (`chmod 0`), or a tree deeper than `PATH_MAX` (by changing into each directory it makes); for a non-root engine
//! the first stops the standard removal, and a naive retry loop spins on it forever. Here the tree is flattened
//! instead: each pass removes what it can at the top level and moves the entries of every top-level directory up
//! into the top level (after making the directory accessible: the pool's uid owns it, or is root), so every path
//! used is one or two names below the root, and a pass that changes nothing ends the work.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Removes `root` and everything below it, whatever a program did to the tree; returns how many entries could
/// not be removed (0 when the tree is gone).
#[must_use = "a tree that could not be removed is worth a warning"]
pub fn remove_tree(root: &Path) -> usize {
    let _ = std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700));
    let mut moved: u64 = 0;
    loop {
        let Ok(entries) = std::fs::read_dir(root) else { return usize::from(root.exists()) };
        let names: Vec<_> = entries.flatten().map(|entry| entry.file_name()).collect();
        if names.is_empty() {
            break;
        }
        let mut progress = false;
        for name in &names {
            let path = root.join(name);
            if std::fs::remove_file(&path).is_ok() || std::fs::remove_dir(&path).is_ok() {
                progress = true;
                continue;
            }
            // A directory (symlinks were removed above, so this follows none): open it and move its entries up.
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
            let Ok(inner) = std::fs::read_dir(&path) else { continue };
            for child in inner.flatten() {
                moved += 1;
                let destination = root.join(format!(".acecoder-moved-{moved}"));
                progress |= std::fs::rename(child.path(), destination).is_ok();
            }
        }
        if !progress {
            return names.len() + 1;
        }
    }
    usize::from(std::fs::remove_dir(root).is_err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_unreadable_and_deep_trees() {
        let root = std::env::temp_dir().join(format!("acecoder-scratch-test-{}", std::process::id()));
        let mut deep = root.join("deep");
        for level in 0..400 {
            deep = deep.join(format!("d{level}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("leaf"), b"x").unwrap();
        let locked = root.join("locked");
        std::fs::create_dir_all(locked.join("inner")).unwrap();
        std::fs::write(locked.join("inner").join("file"), b"x").unwrap();
        std::fs::set_permissions(locked.join("inner"), std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        assert_eq!(remove_tree(&root), 0);
        assert!(!root.exists());
        assert!(Path::new("/etc/passwd").exists());
    }
}
