import Foundation
import Consensus
import Node
import Primitives
import RPC
import Testing
import TestSupport

/// The web explorer (issue #16, Specs/rpc.md §12): the node serves its static files at `/explorer`, self-contained
/// (no external URL), `sharechain explorer` serves them for a remote node, and the page works in headless Chromium
/// against a real devnet (tools/explorer_browser_check.py: every page with real data, search, live blocks, no
/// console errors).
@Suite(.serialized, .tags(.system, .multiProcess)) struct ExplorerTests {
    /// Text of an HTTP answer.
    static func text(_ a: RPCClient.HTTPAnswer) -> String { String(decoding: a.body, as: UTF8.self) }

    /// Absolute URLs in a file, except XML namespace names (identifiers the browser never fetches).
    static func externalURLs(in text: String) -> [String] {
        let namespaces = ["http://www.w3.org/2000/svg"]
        var found = [String]()
        for scheme in ["http://", "https://"] {
            var rest = text[...]
            while let r = rest.range(of: scheme, options: .caseInsensitive) {
                let url = String(rest[r.lowerBound...].prefix { !"\"'`) <>\n".contains($0) })
                if !namespaces.contains(url) { found.append(url) }
                rest = rest[r.upperBound...]
            }
        }
        return found
    }

    @Test(.timeLimit(.minutes(2))) func nodeServesTheExplorerSelfContained() async throws {
        let net = try TestNetworkProcesses(genesis: try TestGenesis(validators: 1), count: 1)
        try net.add(0, validator: 0, peers: [])
        try net.nodes[0].start()
        defer { net.stopAll() }
        let url = "http://127.0.0.1:\(net.ports[1])/"
        let client = try RPCClient(url: url)
        let up = await eventually(.seconds(60), every: .milliseconds(300)) { (try? await client.call("chain_blockNumber")) != nil }
        try #require(up, "the node's RPC did not come up:\n\(net.nodes[0].logTail)")

        // The page, at /explorer and /explorer/.
        for path in ["/explorer", "/explorer/"] {
            let page = try await client.request(method: .GET, path: path)
            #expect(page.status == 200, "\(path)")
            #expect(page.header("content-type") == "text/html; charset=utf-8")
            #expect(page.header("content-security-policy")?.contains("default-src 'self'") == true)
            #expect(Self.text(page).contains("<script type=\"module\" src=\"/explorer/app.js\">"))
        }
        // Every file loads with its type, and every file the page or a module references is one of them.
        let types = ["html": "text/html", "css": "text/css", "js": "text/javascript"]
        var referenced = Set<String>()
        for name in ExplorerAssets.fileNames {
            let a = try await client.request(method: .GET, path: "/explorer/\(name)")
            #expect(a.status == 200, "\(name)")
            let ext = String(name.split(separator: ".").last ?? "")
            #expect(a.header("content-type")?.hasPrefix(types[ext] ?? "?") == true, "\(name): \(a.header("content-type") ?? "none")")
            let body = Self.text(a)
            #expect(!body.isEmpty)
            // Compiled in from the source tree (Plugins/EmbedDocuments): a difference means a stale build.
            let source = try String(contentsOfFile: Paths.root + "/Sources/RPC/Explorer/\(name)", encoding: .utf8)
            #expect(body == source, "the served \(name) differs from Sources/RPC/Explorer/\(name)")
            // No CDN, no network fetch: no absolute URL anywhere in what the browser loads.
            #expect(Self.externalURLs(in: body).isEmpty, "\(name) references \(Self.externalURLs(in: body))")
            for pattern in [#"(?:src|href)="/explorer/([^"]+)""#, #"from '\./([^']+)'"#] {
                let re = try NSRegularExpression(pattern: pattern)
                for m in re.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                    if let r = Range(m.range(at: 1), in: body) { referenced.insert(String(body[r])) }
                }
            }
        }
        #expect(referenced.isSubset(of: Set(ExplorerAssets.fileNames)), "missing: \(referenced.subtracting(ExplorerAssets.fileNames))")
        #expect(referenced.contains("app.js") && referenced.contains("explorer.css") && referenced.contains("views.js"))
        // The repository's folder and the embedded list agree (a new file must be added to the plugin).
        let folder = try FileManager.default.contentsOfDirectory(atPath: Paths.root + "/Sources/RPC/Explorer").sorted()
        #expect(folder == ExplorerAssets.fileNames)

        // Unknown files are 404; nothing outside the folder is reachable.
        for path in ["/explorer/nope.js", "/explorer/../Package.swift", "/explorer/%2e%2e/Package.swift", "/explorerx", "/explorer/app.js/x"] {
            let a = try await client.request(method: .GET, path: path)
            #expect(a.status == 404, "\(path): \(a.status)")
        }
        // HEAD as GET (it was 404 on the node); other methods name the ones allowed.
        let head = try await client.request(method: .HEAD, path: "/explorer/app.js")
        #expect(head.status == 200 && head.header("content-type")?.hasPrefix("text/javascript") == true)
        let post = try await client.request(method: .POST, path: "/explorer/")
        #expect(post.status == 405 && post.header("allow") == "GET, HEAD")
        // The page's styles come from its own files only: no inline styles allowed.
        #expect(try await client.request(method: .GET, path: "/explorer").header("content-security-policy")?.contains("unsafe-inline") == false)
        // The RPC endpoints are untouched.
        #expect(try await client.request(method: .GET, path: "/health").status == 200)

        // `sharechain explorer`: the same files for a remote node, the page pointed at its RPC URL.
        let port = try freePorts(1)[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Paths.sharechain())
        process.arguments = ["explorer", "--rpc", url, "--addr", "127.0.0.1:\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let server = try RPCClient(url: "http://127.0.0.1:\(port)/")
        var page: RPCClient.HTTPAnswer?
        _ = await eventually(.seconds(30), every: .milliseconds(200)) {
            page = try? await server.request(method: .GET, path: "/explorer")
            return page != nil
        }
        let served = try #require(page, "sharechain explorer did not serve /explorer")
        #expect(served.status == 200)
        #expect(Self.text(served).contains("<meta name=\"sharechain-rpc\" content=\"\(url)\">"))
        #expect(served.header("content-security-policy")?.contains("connect-src 'self' http://127.0.0.1:\(net.ports[1]) ws://127.0.0.1:\(net.ports[1])") == true,
                "\(served.header("content-security-policy") ?? "no CSP")")
        let js = try await server.request(method: .GET, path: "/explorer/app.js")
        let nodeJS = try await client.request(method: .GET, path: "/explorer/app.js")
        #expect(js.status == 200 && js.body == nodeJS.body)
        let root = try await server.request(method: .GET, path: "/")
        #expect(root.status == 302 && root.header("location") == "/explorer/")
        #expect(try await server.request(method: .GET, path: "/explorer/nope.css").status == 404)
        kill(process.processIdentifier, SIGTERM)
        let stopped = await eventually(.seconds(20), every: .milliseconds(100)) { !process.isRunning }
        #expect(stopped)
    }

    /// Headless Chromium against `sharechain demo --fast` (validator, workers, a cheater, a verifier): the dashboard,
    /// block, transaction, address, validator, pool, window, ticket and fraud-case pages with real data, search, a new
    /// block without reload, errors as messages, phone width, no console errors. Prints the first render time.
    @Test(.timeLimit(.minutes(6))) func explorerInHeadlessChromium() async throws {
        let exe = try Paths.sharechain()
        let dir = TempDir("explorer")
        let ports = try freePorts(1)
        var base = 33_000 + (ports[0] % 4_000)
        while !portsFree([base, base + 100, base + 200, base + 201, base + 202, base + 210]) { base += 7 }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["demo", "--fast", "--data-dir", dir.path, "--base-port", "\(base)", "--weights-dir", Paths.models,
                             "--summary-every", "1000000"]
        let out = (dir.path as NSString).appendingPathComponent("demo-output.txt")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                let deadline = ContinuousClock.now + .seconds(20)
                while process.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        let url = "http://127.0.0.1:\(base + 100)/"
        let rpc = try RPCClient(url: url)
        // Until there is something on every page: a window that paid out, a fraud case, transactions.
        let ready = await eventually(.seconds(240), every: .seconds(1)) {
            guard let windows = try? await rpc.call("window_list", .object(["pool": .int(0), "limit": .int(100)])),
                  let proofs = try? await rpc.call("proof_list", .object([:])) else { return false }
            let paid = (windows["items"]?.array ?? []).contains { ($0["paid"]?.string ?? "0") != "0" }
            return paid && !(proofs["items"]?.array ?? []).isEmpty
        }
        let log = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try #require(ready, "the demo has no paid window and fraud case yet:\n\(log.suffix(3000))")

        let shots = dir.sub("screenshots")
        let check = try runTool("/usr/bin/env", ["python3", Paths.root + "/tools/explorer_browser_check.py", "--rpc", url,
                                                 "--screenshots", shots, "--timeout", "90"])
        #expect(check.status == 0, "tools/explorer_browser_check.py:\n\(check.output.suffix(4000))")
        print("explorer: \(check.output.split(separator: "\n").last ?? "")")
        for name in ["dashboard.png", "window.png", "dashboard-phone.png"] {
            let png = try? Data(contentsOf: URL(fileURLWithPath: (shots as NSString).appendingPathComponent(name)))
            #expect(png?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true, "no screenshot \(name)")
        }
    }

    /// The dashboard follows a reorg (Specs/rpc.md §8, §12): headless Chromium shows chain A's latest blocks live; A
    /// then switches to a longer branch from height 33, and without a reload the block list drops the old branch's
    /// rows and lists exactly the node's canonical blocks (tools/explorer_browser_check.py --reorg-ready-file).
    @Test(.timeLimit(.minutes(4))) func dashboardFollowsAReorg() async throws {
        try await checkTheDashboardFollowsAReorg(polling: false)
    }

    /// The same reorg seen by a dashboard without a WebSocket (a proxy that has none, a remote node that does not list
    /// the page's origin): it polls the tip, no `reorg` notification reaches it, and its polling must still notice that
    /// the block it shows on top is no longer the node's at that height and read itself again, rather than stack the
    /// new branch's blocks on the old branch's rows.
    @Test(.timeLimit(.minutes(4))) func dashboardFollowsAReorgWhilePolling() async throws {
        try await checkTheDashboardFollowsAReorg(polling: true)
    }

    private func checkTheDashboardFollowsAReorg(polling: Bool) async throws {
        let genesis = try TestGenesis(validators: 1, genesisTime: UInt64(Date().timeIntervalSince1970) - 100_000)
        let a = try IndexedChain(genesis: genesis, label: "explorer-reorg-a")
        try await a.produce(through: 40, perBlock: 1)
        let b = try IndexedChain(genesis: genesis, label: "explorer-reorg-b")
        for h in 1...33 {
            let block = try #require(try await a.service.canonicalBlock(at: UInt64(h)))
            b.clock.set(a.clock.now)
            guard case .imported = await b.service.importBlock(block) else { Issue.record("B did not import block \(h)"); return }
        }
        try await b.produce(through: 47, perBlock: 2, senders: 4..<7)
        try await withRPCServer(a.service) { rpc in
            let ready = a.dir.file("dashboard-ready.json"), out = a.dir.file("browser-check.txt")
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            check.arguments = ["python3", Paths.root + "/tools/explorer_browser_check.py", "--rpc", rpc + "/", "--reorg-ready-file", ready, "--timeout", "90"]
                + (polling ? ["--no-websocket"] : [])
            check.standardOutput = handle
            check.standardError = handle
            try check.run()
            defer { if check.isRunning { kill(check.processIdentifier, SIGKILL); check.waitUntilExit() } }
            var output: String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
            let live = await eventually(.seconds(120), every: .milliseconds(100)) { FileManager.default.fileExists(atPath: ready) || !check.isRunning }
            try #require(live && check.isRunning, "the dashboard did not come up live:\n\(output.suffix(3000))")

            a.clock.set(b.clock.now + 1000)
            for h in 34...47 {
                let block = try #require(try await b.service.canonicalBlock(at: UInt64(h)))
                _ = await a.service.importBlock(block)
            }
            #expect(await a.service.status().tipHash == (await b.service.status().tipHash), "A did not switch to B's branch")
            let done = await eventually(.seconds(150), every: .milliseconds(200)) { !check.isRunning }
            #expect(done, "the browser check did not finish:\n\(output.suffix(3000))")
            if done { #expect(check.terminationStatus == 0, "tools/explorer_browser_check.py --reorg-ready-file:\n\(output.suffix(3000))") }
            print("explorer reorg\(polling ? " (polling)" : ""): \(output.split(separator: "\n").last ?? "")")
        }
    }
}
