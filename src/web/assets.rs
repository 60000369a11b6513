//! The dashboard, embedded: `web/dist` (built by `npm run build` in `web/`, committed, so
//! building NetWatch never needs Node) holds each file gzip-compressed; it is served as is
//! with `Content-Encoding: gzip` and an `ETag` (a hash of the bytes), so a browser that has
//! it asks with `If-None-Match` and gets 304. Paths are matched exactly: nothing is read from
//! the file system.

use super::http::{Request, Response};

/// (URL path, content type, gzip bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../../web/dist/index.html.gz"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/dist/assets/app.js.gz"),
    ),
    (
        "/assets/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/dist/assets/style.css.gz"),
    ),
];

fn etag(b: &[u8]) -> String {
    format!(
        "\"{:016x}\"",
        crate::capture::decode::psl::fnv(crate::capture::decode::psl::FNV_OFFSET, b)
    )
}

/// The dashboard file at `path`, or None when there is none.
pub fn serve(r: &Request<'_>) -> Option<Response> {
    if r.path == "/favicon.ico" {
        // None, on purpose: answered so browsers do not log a failure.
        return Some(Response {
            status: 204,
            content_type: "image/x-icon",
            body: Vec::new(),
            extra: Vec::new(),
        });
    }
    let path = if r.path == "/index.html" { "/" } else { r.path };
    let (_, ctype, body) = FILES.iter().find(|(p, _, _)| *p == path)?;
    let tag = etag(body);
    if r.header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        return Some(Response {
            status: 304,
            content_type: ctype,
            body: Vec::new(),
            extra: vec![("ETag", tag)],
        });
    }
    let gzip_ok = r.header("accept-encoding").is_some_and(|v| {
        v.split(',')
            .any(|e| e.trim().split(';').next() == Some("gzip"))
    });
    if !gzip_ok {
        return Some(Response::error(
            406,
            "the dashboard is served gzip-compressed: send Accept-Encoding: gzip",
        ));
    }
    Some(Response {
        status: 200,
        content_type: ctype,
        body: body.to_vec(),
        extra: vec![("Content-Encoding", "gzip".into()), ("ETag", tag)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The source hash `web/dist` was built from (see `web/scripts/postbuild.js`).
    const BUILT_FROM: &str = include_str!("../../web/dist/SOURCE_HASH");

    /// SHA-1 of the dashboard's sources as `web/scripts/postbuild.js` computes it: the sorted
    /// relative paths of `index.html`, `package.json`, `package-lock.json`, `vite.config.js` and
    /// every file under `src/`, each as `path NUL contents NUL`.
    fn source_hash(web: &std::path::Path) -> std::io::Result<String> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
            for e in std::fs::read_dir(dir)? {
                let p = e?.path();
                if p.is_dir() {
                    walk(&p, out)?;
                } else {
                    out.push(p);
                }
            }
            Ok(())
        }
        let mut files = Vec::new();
        walk(&web.join("src"), &mut files)?;
        let mut rel: Vec<String> = files
            .iter()
            .filter_map(|p| p.strip_prefix(web).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .chain(
                [
                    "index.html",
                    "package.json",
                    "package-lock.json",
                    "vite.config.js",
                ]
                .iter()
                .map(|s| s.to_string()),
            )
            .collect();
        rel.sort();
        let mut h = sha1_smol::Sha1::new();
        for p in &rel {
            h.update(p.as_bytes());
            h.update(b"\0");
            h.update(&std::fs::read(web.join(p))?);
            h.update(b"\0");
        }
        Ok(h.digest().to_string())
    }

    /// `web/dist` must be rebuilt (`cd web && npm run build`) whenever the sources change.
    #[test]
    fn dist_is_built_from_the_current_sources() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let now = source_hash(&web).expect("read web/ sources");
        assert_eq!(
            BUILT_FROM.trim(),
            now,
            "web/dist is stale: run `npm ci && npm run build` in web/ and commit web/dist"
        );
    }

    #[test]
    fn files_are_gzip() {
        for (p, _, b) in FILES {
            assert_eq!(&b[..2], &[0x1f, 0x8b], "{p} is not gzip");
        }
    }
}
