import ArgumentParser
import Logging
import Foundation
import Node
import Primitives

// `--log-level` and `--log-format` parse into these types, so a typo is a usage error listing the valid values
// instead of a silent fallback to `info`. swift-log's level is a `String`-backed `CaseIterable` enum, so the
// conformance is the library's default one; it lives in the executable, the only module that parses arguments.
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
extension PruningSetting: ExpressibleByArgument {}

/// Sets up logging on standard error: readable text, or one JSON object per line (`--log-format json`).
func bootstrapLogging(_ level: Logger.Level, format: LogFormat = .text) -> Logger {
    LoggingSystem.bootstrap { label in
        switch format {
        case .text:
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        case .json:
            var h = JSONLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
    var logger = Logger(label: "sharechain")
    logger.logLevel = level
    return logger
}

/// Loads a key file for a one-shot command (`tx`): the passphrase of an encrypted file from `passphraseFile`, the
/// environment or a prompt on the terminal; a plaintext file loads with a warning on standard error.
func loadKey(_ path: String, passphraseFile: String?) throws -> (PrivateKey, KeyFile) {
    try KeyFile.load(path: path, passphrase: KeyPassphrase(file: passphraseFile), warn: { printWarning($0) })
}

/// A warning (or another kind of notice) on standard error, for commands without a logger.
func printWarning(_ message: String, prefix: String = "warning") {
    FileHandle.standardError.write(Data("\(prefix): \(message)\n".utf8))
}
