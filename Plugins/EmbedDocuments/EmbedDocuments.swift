import Foundation
import PackagePlugin

/// Compiles documents whose source of truth lives outside the module (the OpenRPC document in `Specs/`, the
/// development genesis files in `Genesis/`) into the module as string constants, at build time. Nothing
/// generated is kept in the source tree, the binary stays self-contained (no resource bundle to ship beside
/// it: `rpc.discover` and `sharechain devnet` work wherever the binary is copied), and editing a document
/// rebuilds the module that embeds it.
@main
struct EmbedDocuments: BuildToolPlugin {
    /// One embedded document: the constant's name, and the file's path from the package root.
    struct Document {
        let property: String
        let path: String
    }

    /// What each target embeds: one generated type per entry, holding its documents.
    static let documents: [String: [(type: String, access: String, documents: [Document])]] = [
        "RPC": [("OpenRPCDocument", "", [Document(property: "json", path: "Specs/openrpc.json")]),
                // The web explorer served at GET /explorer (Sources/RPC/Explorer, excluded from the target's sources).
                ("ExplorerFiles", "", explorerFiles.map { Document(property: $0.property, path: "Sources/RPC/Explorer/" + $0.file) })],
        "Node": [("EmbeddedGenesis", "public ", [Document(property: "devnet", path: "Genesis/devnet.json"),
                                                 Document(property: "devnet4", path: "Genesis/devnet-4.json")])],
    ]

    /// The explorer's files (`Sources/RPC/Explorer/`) and their constants; `ExplorerAssets` maps URL paths to them.
    static let explorerFiles: [(property: String, file: String)] = [
        ("indexHTML", "index.html"), ("css", "explorer.css"), ("appJS", "app.js"), ("rpcJS", "rpc.js"),
        ("viewsJS", "views.js"), ("chartsJS", "charts.js"),
    ]

    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        guard let specs = Self.documents[target.name] else { return [] }
        return specs.map { command(context: context, spec: $0) }
    }

    func command(context: PluginContext, spec: (type: String, access: String, documents: [Document])) -> Command {
        let root = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appending(path: "\(spec.type).swift")
        let inputs = spec.documents.map { root.appending(path: $0.path) }
        // Arguments: output file, type name, access modifier, then (property, path from the root, absolute path) per document.
        var arguments = [output.path(), spec.type, spec.access]
        for (d, url) in zip(spec.documents, inputs) { arguments += [d.property, d.path, url.path()] }
        let script = root.appending(path: "tools/embed-text.sh")
        return .buildCommand(displayName: "Embedding \(spec.documents.map(\.path).joined(separator: ", ")) as \(spec.type)",
                             executable: URL(fileURLWithPath: "/bin/sh"), arguments: [script.path()] + arguments,
                             inputFiles: inputs + [script], outputFiles: [output])
    }
}
