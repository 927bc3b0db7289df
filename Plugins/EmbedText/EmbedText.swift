import Foundation

// The build tool of the EmbedDocuments plugin: writes a Swift file with each document as a raw string literal
// whose value is the file's text exactly (a test compares them byte for byte).
//
// Usage: EmbedText OUTPUT TYPE ACCESS (PROPERTY DISPLAY-PATH PATH)...
//
// An `@main` type rather than top-level code: builds that compile executables as libraries (`swift build
// --sanitize fuzzer`, tools/fuzz) reject top-level statements.

@main
enum EmbedText {
    /// The number of `#` that delimits a raw string holding `text`: neither its closing delimiter nor an escape
    /// (`\` then as many `#`) may occur inside.
    static func rawDelimiter(for text: String) -> String {
        var hashes = "#"
        while text.contains("\"\"\"" + hashes) || text.contains("\\" + hashes) { hashes += "#" }
        return hashes
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(status)
    }

    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 7, (args.count - 4) % 3 == 0 else {
            fail("usage: EmbedText OUTPUT TYPE ACCESS (PROPERTY DISPLAY-PATH PATH)...", status: 2)
        }
        let (output, type, access) = (args[1], args[2], args[3])
        var out = "// Generated at build time by the EmbedDocuments plugin (Plugins/). Not part of the source tree.\n\n"
        out += "/// Documents compiled into the binary from their source of truth, so it runs anywhere without files beside it.\n"
        out += "\(access)enum \(type) {\n"
        for i in stride(from: 4, to: args.count, by: 3) {
            let (property, display, path) = (args[i], args[i + 1], args[i + 2])
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                fail("EmbedText: cannot read \(path): \(error)", status: 1)
            }
            let d = rawDelimiter(for: text)
            // The literal's last line break (before the closing delimiter) is not part of its value: the text ends as
            // the file does.
            out += "    /// `\(display)`.\n    \(access)static let \(property) = \(d)\"\"\"\n\(text)\n\"\"\"\(d)\n"
        }
        out += "}\n"
        do { try out.write(toFile: output, atomically: true, encoding: .utf8) } catch {
            fail("EmbedText: cannot write \(output): \(error)", status: 1)
        }
    }
}
