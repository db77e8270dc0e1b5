//! Checks a table is loadable as the kernel checks it at commit
//! (`translate_table` / `mark_source_chains` in ip_tables.c): no loop of
//! jumps reachable from a hook, and every target and match allowed in its
//! table and in every hook from which its chain can be reached (a chain no
//! hook reaches is checked for neither, as in the kernel).

use std::collections::HashMap;

use super::model::{HookMask, Table, Target};

/// A refusal with the line of the rule concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub msg: String,
}

/// Hooks from which each chain can be reached (built-in chains: their own).
/// Errors on a loop of jumps, naming the chain path.
pub fn reach(table: &Table) -> Result<HashMap<String, HookMask>, Refusal> {
    let idx: HashMap<&str, usize> = table
        .chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    // Loop detection: DFS with colours over jump/goto edges.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let n = table.chains.len();
    let mut colour = vec![Colour::White; n];
    let mut stack: Vec<usize> = Vec::new();
    fn dfs(
        t: &Table,
        idx: &HashMap<&str, usize>,
        v: usize,
        colour: &mut [Colour],
        stack: &mut Vec<usize>,
    ) -> Result<(), Refusal> {
        colour[v] = Colour::Grey;
        stack.push(v);
        for r in &t.chains[v].rules {
            if let Target::Chain { name, .. } = &r.target {
                let Some(&w) = idx.get(name.as_str()) else {
                    continue;
                };
                match colour[w] {
                    Colour::Grey => {
                        let from = stack.iter().position(|&x| x == w).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..]
                            .iter()
                            .map(|&i| t.chains[i].name.as_str())
                            .collect();
                        path.push(&t.chains[w].name);
                        return Err(Refusal {
                            line: r.line,
                            msg: format!(
                                "loop of jumps: {} (the kernel refuses it: ELOOP)",
                                path.join(" -> ")
                            ),
                        });
                    }
                    Colour::White => dfs(t, idx, w, colour, stack)?,
                    Colour::Black => {}
                }
            }
        }
        stack.pop();
        colour[v] = Colour::Black;
        Ok(())
    }
    // Only from the built-in chains, as mark_source_chains walks: a loop
    // among chains no hook reaches is loaded (and never runs).
    for v in 0..n {
        if colour[v] == Colour::White && table.chains[v].hook.is_some() {
            dfs(table, &idx, v, &mut colour, &mut stack)?;
        }
    }
    // Propagate hooks from built-in chains (what they reach is acyclic now;
    // a loop elsewhere keeps its empty mask and is never revisited).
    let mut masks: Vec<HookMask> = table
        .chains
        .iter()
        .map(|c| c.hook.map(|h| HookMask(h.bit())).unwrap_or_default())
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (i, c) in table.chains.iter().enumerate() {
            for r in &c.rules {
                if let Target::Chain { name, .. } = &r.target {
                    if let Some(&j) = idx.get(name.as_str()) {
                        let m = HookMask(masks[j].0 | masks[i].0);
                        if m != masks[j] {
                            masks[j] = m;
                            changed = true;
                        }
                    }
                }
            }
        }
    }
    Ok(table
        .chains
        .iter()
        .zip(masks)
        .map(|(c, m)| (c.name.clone(), m))
        .collect())
}

/// Full check of one table before commit.
pub fn check_table(table: &Table) -> Result<(), Refusal> {
    let masks = reach(table)?;
    for c in &table.chains {
        let hooks = masks.get(&c.name).copied().unwrap_or_default();
        for r in &c.rules {
            for m in &r.matches {
                m.check_hooks(table.kind, hooks).map_err(|msg| Refusal {
                    line: r.line,
                    msg: format!("{}: {msg}", m.name()),
                })?;
            }
            if let Target::Ext(t) = &r.target {
                t.check_hooks(table.kind, hooks).map_err(|msg| Refusal {
                    line: r.line,
                    msg: format!("{}: {msg}", t.name()),
                })?;
            }
        }
    }
    Ok(())
}
