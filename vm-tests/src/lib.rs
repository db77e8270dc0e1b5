//! The gateway image's qemu tests are the script `vm-tests/run` (bash,
//! beside this crate): it boots `image/out/sluice-gateway.qcow2` under qemu
//! with three virtio NICs bridged to network namespaces it creates, a seed
//! disk with a test config, and checks DHCP, NAT, a port forward, SSH, an
//! unconfirmed `sluice apply --confirm` rolling back, a broken seed config
//! refused with file:line, and a clean poweroff (README, "Gateway image").
//!
//! A script because the work is driving qemu, `ip netns`, dnsmasq, ssh and
//! curl; this crate holds no code and no tests, so nothing here claims to
//! pass. `cargo test` does not run the VM tests: run `vm-tests/run` as root
//! after `image/build`.
