//! Reading server-sent events: `event:` names and `data:` lines.

/// Call `each(event, data)` for every data line until the stream ends or
/// `each` returns false. Events without a name are `message`.
pub async fn read(mut response: reqwest::Response, mut each: impl FnMut(&str, &str) -> bool) -> anyhow::Result<()> {
    let mut pending = String::new();
    let mut event = String::from("message");
    while let Some(chunk) = response.chunk().await? {
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                event = "message".into();
            } else if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(data) = line.strip_prefix("data:") {
                if !each(&event, data.strip_prefix(' ').unwrap_or(data)) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
