//! Waits with deadlines. A child process that runs past its limit is killed and the test
//! fails naming what it waited for and what the child had printed; a thread that does not
//! finish in time fails the test the same way. Nothing here waits without a bound.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a child gets when the caller names no limit: far beyond any run on a loaded 2-core
/// machine (the longest, a replay of a few MB, takes seconds), short of a hang nobody sees.
pub const CHILD_LIMIT: Duration = Duration::from_secs(180);

/// Run `cmd` to the end with its output captured, as `Command::output`, within `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    wait_within(child, limit, what)
}

/// Wait for a spawned child (its stdout and stderr piped, or not) within `limit`.
pub fn wait_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let start = Instant::now();
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let err =
                    String::from_utf8_lossy(&collect(err, Duration::from_secs(5))).to_string();
                let lines: Vec<&str> = err.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                panic!(
                    "{what}: still running after {:.1} s (limit {} s), killed; the end of its stderr:\n{tail}",
                    start.elapsed().as_secs_f64(),
                    limit.as_secs()
                );
            }
            Err(e) => panic!("{what}: could not wait: {e}"),
        }
    };
    // The pipes close when the child exits (unless it left a grandchild holding them).
    Output {
        status,
        stdout: collect(out, Duration::from_secs(10)),
        stderr: collect(err, Duration::from_secs(10)),
    }
}

/// The value of a thread that must finish by `deadline`.
pub fn join_by<T: Send + 'static>(h: JoinHandle<T>, deadline: Instant, what: &str) -> T {
    while !h.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: the thread had not finished by its deadline"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    h.join()
        .unwrap_or_else(|_| panic!("{what}: the thread panicked"))
}

/// Poll `f` every 20 ms until it holds, failing after `limit` with what it was waiting for.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {:.1} s waiting for {what}",
            start.elapsed().as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(buf);
    });
    rx
}

fn collect(rx: mpsc::Receiver<Vec<u8>>, limit: Duration) -> Vec<u8> {
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        b"(its output pipe was still open: a process it started holds it)".to_vec()
    })
}
