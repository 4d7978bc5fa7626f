//! The fleet's timings from the environment: `JOBS_HEARTBEAT`,
//! `JOBS_DEAD_AFTER`, `JOBS_STUCK_GRACE` and `JOBS_CLAIM_LEAD` override
//! those set in code
//! when [`JobManager::connect`] opens a store; a value that is no
//! duration, or timings out of range, stop it with an error naming the
//! variable and the value. The variables are process-global: this binary
//! has one test, which sets them in turn.

use std::time::Duration;

use jobs_runtime::store::FleetTimings;
use jobs_runtime::{Error, JobManager};
use jobs_test_postgres::Database;

const VARIABLES: [&str; 4] = [
    "JOBS_HEARTBEAT",
    "JOBS_DEAD_AFTER",
    "JOBS_STUCK_GRACE",
    "JOBS_CLAIM_LEAD",
];

/// What `connect(url)` answers with the variables set to `values` (unset
/// where `None`).
async fn connect(url: &str, values: [Option<&str>; 4]) -> (JobManager, Result<(), Error>) {
    for (variable, value) in VARIABLES.iter().zip(values) {
        match value {
            Some(value) => std::env::set_var(variable, value),
            None => std::env::remove_var(variable),
        }
    }
    let manager = JobManager::new();
    let connected = manager.connect(url).await;
    (manager, connected)
}

/// The setting, value and reason of a timings error.
fn refused(connected: Result<(), Error>) -> (String, String, String) {
    match connected {
        Err(Error::InvalidFleetTimings {
            setting,
            value,
            reason,
        }) => (setting, value, reason),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn the_environment_sets_the_fleet_timings_and_bad_values_are_refused() {
    let (_, connected) = connect("memory:", [Some("often"), None, None, None]).await;
    let (setting, value, reason) = refused(connected);
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("JOBS_HEARTBEAT", "often")
    );
    assert!(reason.contains("for instance 5s or 500ms"), "{reason}");

    let (_, connected) = connect("memory:", [Some("1s"), Some("2s"), None, None]).await;
    let error = connected.unwrap_err().to_string();
    assert_eq!(
        error,
        "fleet timing JOBS_DEAD_AFTER = \"2s\" is invalid: at least three heartbeats (3s), \
         so that an instance fences itself before the others take its work"
    );

    let (_, connected) = connect("memory:", [Some("10ms"), None, None, None]).await;
    let (setting, value, _) = refused(connected);
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("JOBS_HEARTBEAT", "10ms")
    );

    let (_, connected) = connect("memory:", [None, None, Some("2d"), None]).await;
    let (setting, _, reason) = refused(connected);
    assert_eq!(
        (setting.as_str(), reason.as_str()),
        ("JOBS_STUCK_GRACE", "at most 1d")
    );

    let (_, connected) = connect("memory:", [None, None, None, Some("1s")]).await;
    let error = connected.unwrap_err().to_string();
    assert_eq!(
        error,
        "fleet timing JOBS_CLAIM_LEAD = \"1s\" is invalid: at most 250ms (a quarter of the \
         shortest gap between two cron fires)"
    );

    // A heartbeat too slow for the dead-after in effect (the default): the
    // error names that timing, which no variable set.
    let (_, connected) = connect("memory:", [Some("10s"), None, None, None]).await;
    let (setting, value, _) = refused(connected);
    assert_eq!((setting.as_str(), value.as_str()), ("dead_after", "20s"));

    // Valid values are the shared store's timings.
    let database = Database::create().await;
    let set = [Some("1s"), Some("4s"), Some("30s"), Some("50ms")];
    let (manager, connected) = connect(database.url(), set).await;
    connected.expect("the store opens");
    let expected = FleetTimings::new(
        Duration::from_secs(1),
        Duration::from_secs(4),
        Duration::from_secs(30),
    )
    .unwrap()
    .with_claim_lead(Duration::from_millis(50))
    .unwrap();
    assert_eq!(manager.fleet_timings(), expected);
    // "0" claims each fire when it is due, with a unit or without.
    for zero in ["0", "0ms", "0s"] {
        let (manager, connected) = connect(database.url(), [None, None, None, Some(zero)]).await;
        connected.expect("the store opens");
        assert_eq!(manager.fleet_timings().claim_lead(), Duration::ZERO);
    }
    let (_, connected) = connect("memory:", [None, None, None, Some("0x")]).await;
    let (setting, value, reason) = refused(connected);
    assert_eq!(
        (setting.as_str(), value.as_str()),
        ("JOBS_CLAIM_LEAD", "0x")
    );
    assert!(
        reason.starts_with("invalid duration \"0x\"")
            && reason.ends_with("(for instance 5s or 500ms)"),
        "{reason}"
    );
    // A lead set in code holds where no variable sets one.
    std::env::remove_var("JOBS_CLAIM_LEAD");
    let manager = JobManager::new();
    let lead = Duration::from_millis(30);
    manager.set_fleet_timings(FleetTimings::default().with_claim_lead(lead).unwrap());
    manager
        .connect(database.url())
        .await
        .expect("the store opens");
    assert_eq!(manager.fleet_timings().claim_lead(), lead);
    assert_eq!(expected.self_fence(), Duration::from_secs(3));
    assert_eq!(expected.failover_bound(), Duration::from_secs(6));

    // Unset, the defaults: 5 s, 20 s, 60 s, 100 ms.
    let (manager, connected) = connect(database.url(), [None, None, None, None]).await;
    connected.expect("the store opens");
    assert_eq!(manager.fleet_timings(), FleetTimings::default());
    assert_eq!(
        FleetTimings::default().failover_bound(),
        Duration::from_secs(30)
    );
}
