//! The `fleet` example as a user runs it: three instances against one
//! PostgreSQL database (one of this test's own). Each prints the fires it
//! runs; across the three, each `tick` fire is printed once. Real time and
//! real processes: they are the point.

#![cfg(unix)]

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jobs_test_postgres::Database;

mod support;

/// An instance of the example, killed when dropped.
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_of_the_fleet_example_print_each_tick_once() {
    let database = Database::create().await;
    let binary = support::examples::build("fleet", &["postgres"]);
    let mut instances: Vec<Instance> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let child = Command::new(&binary)
                .env("JOBS_DATABASE_URL", database.url())
                .env("JOBS_INSTANCE", name)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the example starts");
            Instance(child)
        })
        .collect();
    // Long enough for the instances list, printed every 10 s.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let mut ticks: HashMap<String, usize> = HashMap::new();
    let mut output = String::new();
    for instance in &mut instances {
        let _ = instance.0.kill();
        let _ = instance.0.wait();
        let mut text = String::new();
        let mut stdout = instance.0.stdout.take().expect("its output");
        stdout.read_to_string(&mut text).expect("its output reads");
        for line in text.lines().filter(|line| line.starts_with("tick ")) {
            let fire = line.split_whitespace().nth(2).expect("a fire time");
            *ticks.entry(fire.to_owned()).or_default() += 1;
        }
        output.push_str(&text);
    }
    assert!(ticks.len() >= 3, "ticks ran every 2 s:\n{output}");
    assert!(
        ticks.values().all(|count| *count == 1),
        "each tick ran once across the instances:\n{output}"
    );
    assert!(output.contains("instances (this clock"), "{output}");
}
