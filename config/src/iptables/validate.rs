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
    // Edges: for each chain, the chains its rules jump or go to, with the
    // line of the rule (unknown names are skipped: restore refuses them).
    let n = table.chains.len();
    let edges: Vec<Vec<(usize, usize)>> = table
        .chains
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .filter_map(|r| match &r.target {
                    Target::Chain { name, .. } => idx.get(name.as_str()).map(|&w| (w, r.line)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    // Loop detection: DFS with colours over jump/goto edges, iterative (an
    // explicit stack of (chain, next edge)) so that no depth of jumps can
    // overflow the thread's stack; the kernel has no depth limit either.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour = vec![Colour::White; n];
    // Chains in the order the DFS finished them: every chain reached from a
    // hook comes after all the chains it jumps to.
    let mut finished: Vec<usize> = Vec::new();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    // Only from the built-in chains, as mark_source_chains walks: a loop
    // among chains no hook reaches is loaded (and never runs).
    for root in 0..n {
        if colour[root] != Colour::White || table.chains[root].hook.is_none() {
            continue;
        }
        colour[root] = Colour::Grey;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (v, e) = *top;
            let Some(&(w, line)) = edges[v].get(e) else {
                colour[v] = Colour::Black;
                finished.push(v);
                stack.pop();
                continue;
            };
            top.1 += 1;
            match colour[w] {
                Colour::Grey => {
                    let from = stack.iter().position(|&(x, _)| x == w).unwrap_or(0);
                    let mut path: Vec<&str> = stack[from..]
                        .iter()
                        .map(|&(i, _)| table.chains[i].name.as_str())
                        .collect();
                    path.push(&table.chains[w].name);
                    return Err(Refusal {
                        line,
                        msg: format!(
                            "loop of jumps: {} (the kernel refuses it: ELOOP)",
                            path.join(" -> ")
                        ),
                    });
                }
                Colour::White => {
                    colour[w] = Colour::Grey;
                    stack.push((w, 0));
                }
                Colour::Black => {}
            }
        }
    }
    // Propagate hooks from built-in chains in reverse finishing order (a
    // topological order of what the hooks reach, acyclic now): one pass.
    // A chain no hook reaches keeps its empty mask.
    let mut masks: Vec<HookMask> = table
        .chains
        .iter()
        .map(|c| c.hook.map(|h| HookMask(h.bit())).unwrap_or_default())
        .collect();
    for &v in finished.iter().rev() {
        for &(w, _) in &edges[v] {
            masks[w] = HookMask(masks[w].0 | masks[v].0);
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
