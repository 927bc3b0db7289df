import Primitives

/// Why the OpenRPC document cannot be served: a defect of the build (the embedded text is not the JSON the
/// tests checked), not a storage fault. Reported to callers as an internal error and logged.
struct OpenRPCDocumentError: Error, CustomStringConvertible {
    let parseError: JSONParseError
    var description: String { "the embedded OpenRPC document does not parse: \(parseError)" }
}

/// The OpenRPC document `rpc.discover` returns: `Specs/openrpc.json`, compiled in at build time by the
/// `EmbedDocuments` plugin (tests fail when it differs from the file or from the served methods).
enum OpenRPC {
    /// Parsed once; the embedded text is checked by the tests, so a failure here is a build defect.
    static let parsed: Result<JSON, OpenRPCDocumentError> = parse(OpenRPCDocument.json)

    static func parse(_ text: String) -> Result<JSON, OpenRPCDocumentError> {
        do { return .success(try JSONParser().parse(text)) } catch { return .failure(OpenRPCDocumentError(parseError: error)) }
    }

    static func document() throws(OpenRPCDocumentError) -> JSON { try parsed.get() }
}
