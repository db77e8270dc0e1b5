//! Boots the sluice gateway image in qemu (TCG) and sends traffic through it.
//!
//! Not written yet: it needs the image (`image/`) and the AF_XDP dataplane.
//! This crate holds no tests until then, so nothing here claims to pass.
