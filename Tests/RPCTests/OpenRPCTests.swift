import Primitives
import Foundation
import Testing
@testable import RPC
import TestSupport

let specsDir = repositoryRoot.appendingPathComponent("Specs")

@Suite struct OpenRPCTests {
    func document() throws -> JSON { try JSONParser().parse(Array(try Data(contentsOf: specsDir.appendingPathComponent("openrpc.json")))) }

    /// Specs/openrpc.json is valid JSON, and what rpc.discover serves is exactly that file (the build compiles it
    /// in: Plugins/EmbedDocuments; a difference means a stale build or a broken embedding).
    @Test func embeddedCopyMatchesTheSpecFile() throws {
        let text = try String(contentsOf: specsDir.appendingPathComponent("openrpc.json"), encoding: .utf8)
        #expect(OpenRPCDocument.json == text, "the embedded OpenRPC document differs from Specs/openrpc.json")
        let doc = try document()
        #expect(doc["openrpc"]?.string?.hasPrefix("1.") == true)
        #expect(try OpenRPC.document() == doc)
    }

    /// The document lists exactly the methods the dispatcher serves, with the same parameters in the same
    /// order and the same required flags, and every reference resolves.
    @Test func documentMatchesTheDispatcher() async throws {
        let node = try await GoldenNode()
        let dispatcher = node.server.dispatcher
        let doc = try document()
        let methods = try #require(doc["methods"]?.array)
        let names = methods.compactMap { $0["name"]?.string }
        #expect(names.count == Set(names).count, "duplicate method names")
        #expect(Set(names) == Set(dispatcher.methodNames),
                "document only: \(Set(names).subtracting(dispatcher.methodNames).sorted()); served only: \(Set(dispatcher.methodNames).subtracting(names).sorted())")
        for m in methods {
            guard let name = m["name"]?.string, let served = dispatcher.methods[name] else { continue }
            let params = m["params"]?.array ?? []
            #expect(params.compactMap { $0["name"]?.string } == served.params.map(\.name), "\(name) parameter names")
            #expect(params.map { $0["required"] == .bool(true) } == served.params.map(\.required), "\(name) required flags")
            #expect(m["summary"]?.string?.isEmpty == false, "\(name) needs a summary")
            #expect(m["result"]?["schema"] != nil, "\(name) needs a result schema")
        }
        // Every $ref points at a component.
        let components = try #require(doc["components"]?.object)
        var refs = [String]()
        func walk(_ v: JSON) {
            switch v {
            case .object(let o):
                if case .string(let r)? = o["$ref"] { refs.append(r) }
                for m in o.members { walk(m.value) }
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(doc)
        #expect(!refs.isEmpty)
        for r in refs {
            let parts = r.split(separator: "/").map(String.init)
            #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components", "\(r)")
            guard parts.count == 4 else { continue }
            #expect(components[parts[2]]?[parts[3]] != nil, "unresolved \(r)")
        }
        // The error components carry the codes the server uses.
        let codes = Set(components["errors"]?.object?.members.compactMap { $0.value["code"].flatMap { Int($0.number ?? "") } } ?? [])
        #expect(codes == [RPCError.parseErrorCode, RPCError.invalidRequestCode, RPCError.methodNotFoundCode, RPCError.invalidParamsCode,
                          RPCError.internalErrorCode, RPCError.notFoundCode, RPCError.transactionRejectedCode, RPCError.limitExceededCode,
                          RPCError.unknownBlockTagCode, RPCError.prunedCode, RPCError.unsupportedTransportCode])
    }

    /// rpc.discover returns the document.
    @Test func discoverServesTheDocument() async throws {
        let node = try await GoldenNode()
        let out = try #require(await node.server.dispatcher.handle(Array(#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.utf8),
                                                                    context: CallContext(transport: .http, session: nil)))
        #expect(try JSONParser().parse(out)["result"] == (try document()))
    }
}

extension JSON {
    var number: String? { if case .number(let n) = self { return n }; return nil }
}

/// A document that does not parse is a defect of the build, reported as such (not as a storage fault).
@Suite struct OpenRPCDocumentErrorTests {
    @Test func parseErrorsAreTheirOwnError() throws {
        guard case .failure(let e) = OpenRPC.parse("{\"openrpc\": ") else { Issue.record("parsed a truncated document"); return }
        #expect(e.description.hasPrefix("the embedded OpenRPC document does not parse"))
        #expect(try OpenRPC.parse("{}").get() == .object([:]))
    }
}
