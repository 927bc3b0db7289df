import Primitives
/// The OpenRPC document `rpc.discover` returns: `Specs/openrpc.json`, compiled in at build time by the
/// `EmbedDocuments` plugin (tests fail when it differs from the file or from the served methods).
enum OpenRPC {
    /// Parsed once; the embedded text is checked by the tests, so a failure here is a build defect.
    static let parsed: Result<JSON, JSONParseError> = Result { () throws(JSONParseError) -> JSON in
        try JSONParser().parse(OpenRPCDocument.json)
    }

    static func document() throws -> JSON {
        switch parsed {
        case .success(let d): return d
        case .failure(let e): throw StorageFault("embedded OpenRPC document does not parse: \(e)")
        }
    }
}
