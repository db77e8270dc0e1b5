//! DHCP leases as configuration changes: a lease acquired, changed or lost
//! is installed as `sluice apply` installs a file — compiled into a new
//! snapshot (the file's configuration with every current lease in it,
//! [`crate::dhcp::inject`]), published to the workers at a batch boundary
//! (conntrack kept; entries masqueraded through a lost address dropped,
//! `WorkerState::follow`), the TAPs following. The running history entry
//! takes the new generation in place: a lease is no configuration of its
//! own to roll back to, and every configuration the daemon runs (an
//! apply, a rollback) gets the leases of the moment.

use super::*;
use crate::dhcp::{self, Binding};

impl Control {
    /// `loaded` (just loaded from `file`) with the current leases in it.
    pub(super) fn with_leases(&self, loaded: Loaded, file: &Path) -> Result<Loaded, String> {
        let mut b = (*loaded.base).clone();
        let leases = self.leases.iter().map(|(n, b)| (n.as_str(), *b));
        if !dhcp::inject(&mut b.appliance, leases) {
            return Ok(loaded);
        }
        compile(Arc::new(b), loaded.base, file, loaded.snap.generation)
    }

    /// History entry `i` compiled again with the current leases, when they
    /// are not the ones it runs with.
    pub(super) fn refresh_leases(&mut self, i: usize) -> Result<(), String> {
        let e = &self.history[i];
        let mut want = (*e.loaded.base).clone();
        let leases = self.leases.iter().map(|(n, b)| (n.as_str(), *b));
        dhcp::inject(&mut want.appliance, leases);
        if want.appliance == e.loaded.bundle.appliance {
            return Ok(());
        }
        let loaded = compile(
            Arc::new(want),
            Arc::clone(&e.loaded.base),
            &e.file,
            e.generation,
        )?;
        self.history[i].loaded = loaded;
        Ok(())
    }

    /// The interfaces that take their address by DHCP in the running
    /// configuration: (port, name).
    pub fn dhcp_ports(&self) -> Vec<(u16, String)> {
        self.current()
            .loaded
            .base
            .appliance
            .interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.dhcp)
            .map(|(p, i)| (p as u16, i.name.clone()))
            .collect()
    }

    /// What the DHCP clients said last.
    pub fn dhcp_status(&self) -> Vec<dhcp::Status> {
        self.dhcp.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Installs `binding` as interface `name`'s lease (`None`: it has
    /// none): a new generation of the running configuration, published and
    /// waited for as an apply is. Nothing happens when the binding is the
    /// one installed (`Ok(false)`). `why` starts the log line.
    pub fn set_lease(
        &mut self,
        name: &str,
        binding: Option<Binding>,
        why: &str,
    ) -> Result<bool, String> {
        if self.leases.get(name).copied() == binding {
            return Ok(false);
        }
        let old_leases = self.leases.clone();
        match binding {
            Some(b) => self.leases.insert(name.to_string(), b),
            None => self.leases.remove(name),
        };
        let generation = self.next_generation;
        let e = self.current();
        let (file, base) = (e.file.clone(), Arc::clone(&e.loaded.base));
        let mut b = (*base).clone();
        dhcp::inject(
            &mut b.appliance,
            self.leases.iter().map(|(n, b)| (n.as_str(), *b)),
        );
        let t0 = Instant::now();
        let mut loaded = match compile(Arc::new(b), base, &file, generation) {
            Ok(l) => l,
            Err(e) => {
                self.leases = old_leases;
                return Err(format!("{why}: cannot install it: {e}"));
            }
        };
        if let (Some(old), Some(snap)) = (
            self.current().loaded.snap.rules.clone(),
            Arc::get_mut(&mut loaded.snap),
        ) {
            if let Some(p) = snap.rules.as_mut().and_then(Arc::get_mut) {
                p.prepare_carry(&old);
            }
        }
        self.next_generation += 1;
        self.carry_baseline(&loaded.snap);
        let swap = self.publish(&loaded.snap);
        let old = Arc::clone(&self.current().loaded.bundle);
        self.sync_host(&old, &loaded.bundle);
        let e = &mut self.history[self.running];
        e.generation = generation;
        e.loaded = loaded;
        self.log.step(&format!(
            "{why}: generation {generation} running on {} worker(s) {:.1} ms after publication (compiled in {:.1} ms){}",
            swap.running,
            swap.took.as_secs_f64() * 1e3,
            t0.elapsed().saturating_sub(swap.took).as_secs_f64() * 1e3,
            lag_note(&swap.lagging),
        ));
        Ok(true)
    }
}
