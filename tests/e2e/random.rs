//! A randomized convergence run: several devices make random changes, with random
//! offline periods and random server restarts, against one server on PostgreSQL; once
//! every device has synced, every device's data equals the server's.
//!
//! Seeded and reproducible: the seed is printed at the start and in every failure
//! (`SYNC_SEED=<seed>` replays a run). `cargo xtask test` runs a short version;
//! `cargo xtask test --long` (SYNC_LONG_TESTS=1) a long one.

use std::time::{Duration, Instant};
use sync_test_support::{DataSet, Stack};

const PASSWORD: &str = "correct horse battery";
const DEVICES: usize = 3;

/// xorshift64*: small, fast, and the same sequence for the same seed on any machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

#[tokio::test]
async fn random_operations_on_several_devices_converge() {
    let Some(mut stack) = Stack::start_postgres().await else {
        return;
    };
    let long = std::env::var_os("SYNC_LONG_TESTS").is_some();
    let steps = if long { 150 } else { 24 };
    let seed = std::env::var("SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("random convergence: seed {seed}, {steps} steps on {DEVICES} devices");
    let mut rng = Rng(seed);

    let email = format!("random-{seed}@example.com");
    let devices = stack.devices(DEVICES, &email, PASSWORD).await;
    let mut offline = [false; DEVICES];
    let mut names = 0u32;
    let mut fresh = |prefix: &str| {
        names += 1;
        format!("{prefix}{names}")
    };

    for step in 0..steps {
        let d = rng.below(DEVICES);
        let device = &devices[d];
        let state = device.local_state().await;
        let boards: Vec<String> = state
            .boards
            .values()
            .filter_map(|b| b["name"].as_str().map(str::to_string))
            .collect();
        let todos: Vec<String> = state
            .todos
            .values()
            .filter_map(|t| t["title"].as_str().map(str::to_string))
            .collect();
        let roll = rng.below(100);
        // Pick among what makes sense on this device now, so no step is wasted.
        let kind = match roll {
            0..=9 => "offline",
            10..=12 => "restart",
            _ if boards.is_empty() || (roll < 28 && boards.len() < 5) => "create board",
            _ if todos.is_empty() || roll < 46 => "add todo",
            46..=55 => "rename board",
            56..=68 => "toggle todo",
            69..=80 => "edit todo",
            81..=93 => "delete todo",
            _ => "delete board",
        };
        let board = rng.pick(&boards).cloned().unwrap_or_default();
        let todo = rng.pick(&todos).cloned().unwrap_or_default();
        let action = match kind {
            "offline" => {
                offline[d] = !offline[d];
                device.click("offline-toggle").await;
                format!("offline={}", offline[d])
            }
            "restart" => {
                stack.kill();
                tokio::time::sleep(Duration::from_millis(rng.below(500) as u64)).await;
                stack.restart().await;
                "server restart".to_string()
            }
            "create board" => {
                let name = fresh("b");
                device.create_board(&name).await;
                format!("create board {name}")
            }
            "add todo" => {
                let title = fresh("t");
                let done = device.try_add_todo(&board, &title).await;
                format!("add todo {title} to {board}: {done}")
            }
            "rename board" => {
                let to = fresh("b");
                let done = device.try_rename_board(&board, &to).await;
                format!("rename board {board} to {to}: {done}")
            }
            "toggle todo" => {
                let done = device.try_click(&format!("toggle-todo-{todo}")).await;
                format!("toggle {todo}: {done}")
            }
            "edit todo" => {
                let to = fresh("t");
                let done = device.try_edit_todo(&todo, &to).await;
                format!("edit {todo} to {to}: {done}")
            }
            "delete todo" => {
                let done = device.try_click(&format!("delete-todo-{todo}")).await;
                format!("delete {todo}: {done}")
            }
            _ => {
                let done = device.try_click(&format!("delete-board-{board}")).await
                    && device.try_click("confirm-delete").await;
                format!("delete board {board}: {done}")
            }
        };
        eprintln!("step {step:3} device {d}: {action}");
    }

    // Everyone back online, synced, and equal to the server.
    for (d, device) in devices.iter().enumerate() {
        if offline[d] {
            device.click("offline-toggle").await;
        }
    }
    let started = Instant::now();
    let (converged, states) = loop {
        for device in &devices {
            device.try_click("sync-now-button").await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let server = stack.server_state(&email, PASSWORD).await;
        let mut states: Vec<DataSet> = Vec::new();
        for device in &devices {
            states.push(device.local_state().await);
        }
        if states.iter().all(|local| *local == server) {
            break (true, states);
        }
        if started.elapsed() > Duration::from_secs(90) {
            states.push(server);
            break (false, states);
        }
    };
    if !converged {
        let mut diagnoses = String::new();
        for (d, device) in devices.iter().enumerate() {
            diagnoses.push_str(&format!("device {d}: {}\n", device.diagnosis().await));
        }
        panic!(
            "seed {seed}: devices did not converge with the server.\n{diagnoses}last states (devices…, server): {states:#?}"
        );
    }
    for device in devices {
        device.close().await;
    }
}
