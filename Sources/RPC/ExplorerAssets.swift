import Foundation

/// The web explorer's static files (`Sources/RPC/Explorer/`, compiled in at build time by the EmbedDocuments
/// plugin as `ExplorerFiles`), served by the node at `GET /explorer` and by `sharechain explorer` (Specs/rpc.md §12).
///
/// The page reads the node's JSON-RPC at the URL in its `<meta name="sharechain-rpc">` tag: empty (the node's own
/// origin) when the node serves it, the `--rpc` URL when `sharechain explorer` does.
public enum ExplorerAssets {
    /// One file as served.
    public struct Asset: Sendable, Equatable {
        /// The `Content-Type` header value.
        public let contentType: String
        /// The file's bytes.
        public let body: [UInt8]
    }

    /// The URL prefix every file lives under.
    public static let prefix = "/explorer"

    /// The files by name under `/explorer/` (`index.html` is also `/explorer` and `/explorer/`).
    static let files: [String: (type: String, text: String)] = [
        "index.html": ("text/html; charset=utf-8", ExplorerFiles.indexHTML),
        "explorer.css": ("text/css; charset=utf-8", ExplorerFiles.css),
        "app.js": ("text/javascript; charset=utf-8", ExplorerFiles.appJS),
        "rpc.js": ("text/javascript; charset=utf-8", ExplorerFiles.rpcJS),
        "views.js": ("text/javascript; charset=utf-8", ExplorerFiles.viewsJS),
        "charts.js": ("text/javascript; charset=utf-8", ExplorerFiles.chartsJS),
    ]

    /// The names of every file, sorted (tests load each one).
    public static var fileNames: [String] { files.keys.sorted() }

    /// The marker in `index.html` replaced by the JSON-RPC URL the page should call.
    static let rpcMarker = "<meta name=\"sharechain-rpc\" content=\"\">"

    /// Whether `path` (the URL path, without query) is the explorer's.
    public static func handles(_ path: String) -> Bool {
        path == prefix || path.hasPrefix(prefix + "/")
    }

    /// The file for a URL path, nil when there is none (404). `rpcURL` is the JSON-RPC endpoint the page calls;
    /// nil or empty means the origin that served the page.
    public static func asset(path: String, rpcURL: String? = nil) -> Asset? {
        guard handles(path) else { return nil }
        var name = String(path.dropFirst(prefix.count))
        if name.hasPrefix("/") { name.removeFirst() }
        if name.isEmpty { name = "index.html" }
        guard let file = files[name] else { return nil }
        var text = file.text
        if name == "index.html", let url = rpcURL, !url.isEmpty {
            text = text.replacingOccurrences(of: rpcMarker, with: "<meta name=\"sharechain-rpc\" content=\"\(htmlAttribute(url))\">")
        }
        return Asset(contentType: file.type, body: Array(text.utf8))
    }

    /// `s` escaped for a double-quoted HTML attribute.
    static func htmlAttribute(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }
}
