use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn the_error_is_the_gap_over_the_actual_wait() {
    assert!(close(relative_error(12.0, 10.0), 0.2));
    assert!(close(relative_error(8.0, 10.0), 0.2), "too short a promise is as wrong as too long");
    assert!(close(relative_error(0.0, 0.0), 0.0), "let in at once, as told");
    assert!(close(relative_error(1.0, 0.0), 4.0), "an instant admission counts as one 250 ms poll");
}

#[test]
fn quantiles_take_the_nearest_rank() {
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(quantile(&ten, 0.5), Some(5.0));
    assert_eq!(quantile(&ten, 0.9), Some(9.0));
    assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0), "unsorted input");
    assert_eq!(quantile(&[7.0], 0.9), Some(7.0));
    assert_eq!(quantile(&[], 0.5), None);
}

#[test]
fn accuracy_reports_the_median_and_p90_error_and_the_median_waits() {
    // Actual 10 s each; told 10, 11, …, 19 s: errors 0 %, 10 %, …, 90 %.
    let pairs: Vec<(f64, f64)> = (0..10).map(|i| (10.0 + f64::from(i), 10.0)).collect();
    let accuracy = Accuracy::of(&pairs).expect("ten fans");
    assert_eq!(accuracy.n, 10);
    assert!(close(accuracy.median_error, 0.4), "{accuracy:?}");
    assert!(close(accuracy.p90_error, 0.8), "{accuracy:?}");
    assert!(close(accuracy.median_actual, 10.0));
    assert!(close(accuracy.median_told, 14.0));
    assert!(!accuracy.within_bounds());
    assert_eq!(Accuracy::of(&[]), None);
}

#[test]
fn both_bounds_must_hold_and_each_is_inclusive() {
    let with = |median_error, p90_error| Accuracy {
        n: 1,
        median_error,
        p90_error,
        median_actual: 10.0,
        median_told: 10.0,
    };
    assert!(with(0.20, 0.50).within_bounds());
    assert!(!with(0.21, 0.30).within_bounds(), "median over 20 %");
    assert!(!with(0.10, 0.51).within_bounds(), "p90 over 50 %");
}

fn fan(joined: f64, told: f64, waited: Option<f64>, paid: Option<f64>) -> Fan {
    Fan {
        joined: Duration::from_secs_f64(joined),
        told: Some(told),
        waited: waited.map(Duration::from_secs_f64),
        paid: paid.map(Duration::from_secs_f64),
        answers: Vec::new(),
    }
}

#[test]
fn only_fans_who_joined_a_window_after_the_first_payment_and_after_the_first_room_count() {
    let room = usize::try_from(MAX_ACTIVE).expect("small");
    // The first room's worth joins at 0–1.9 s; the first payment answers at 3 s.
    let mut fans: Vec<Fan> =
        (0..room).map(|i| fan(i as f64 / 10.0, 0.0, Some(0.5), Some(3.0 + i as f64))).collect();
    fans.push(fan(10.0, 9.0, Some(8.0), None)); // before 3 s + a 10 s window
    fans.push(fan(13.0, 12.0, Some(10.0), None)); // counts
    fans.push(fan(14.0, 12.0, None, None)); // never admitted
    fans.push(fan(15.0, 15.0, Some(15.0), Some(31.0))); // counts
    assert_eq!(counted(&fans, Duration::from_secs(10)), vec![(12.0, 10.0), (15.0, 15.0)]);
    let nobody_paid: Vec<Fan> = fans.iter().map(|f| Fan { paid: None, ..f.clone() }).collect();
    assert!(counted(&nobody_paid, Duration::from_secs(10)).is_empty(), "no outflow, nothing to count");
}

#[test]
fn the_plan_overloads_the_room_and_scales_its_spans() {
    let full = Plan::at(1.0);
    assert!(close(full.arrivals_per_second, OVERLOAD * nominal_throughput()));
    assert_eq!(
        (full.warm_up, full.measured, full.window),
        (Duration::from_secs(35), Duration::from_secs(45), Duration::from_secs(30))
    );
    assert_eq!(full.fans, (80.0 * full.arrivals_per_second).ceil() as usize);
    let small = Plan::at(0.1);
    assert_eq!(small.measured, Duration::from_secs_f64(4.5));
    assert!(small.fans < full.fans / 5);
}

#[test]
fn the_admission_rate_runs_from_the_first_admission_to_the_last() {
    let fans = vec![
        fan(0.0, 0.0, Some(1.0), None),
        fan(1.0, 0.0, Some(4.0), None),
        fan(2.0, 0.0, None, None),
        fan(3.0, 0.0, Some(2.0), None),
    ];
    let run = Estimate {
        plan: Plan::at(1.0),
        fans,
        accuracy: None,
        latency: Latencies::new(),
        counts: StatusCounts::default(),
        load: (0.0, 0.0),
        postgres: String::new(),
    };
    // Admitted at 1, 5 and 5 s: two more admissions over 4 s.
    assert_eq!(run.admitted_per_second(), Some(0.5));
}
