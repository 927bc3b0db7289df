import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads one HTTP/1.1 request from a connected socket and returns its body (`Content-Length` bytes after the head), or
/// nil when the peer closes first. For the tests' one-request-per-connection fake servers on loopback.
public func readHTTPRequestBody(_ socket: Int32) -> [UInt8]? {
    var request = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(socket, &buffer, buffer.count)
        guard n > 0 else { return nil }
        request += buffer[0..<n]
        let text = String(decoding: request, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { continue }
        let head = text[..<end.lowerBound].lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let start = text.utf8.distance(from: text.utf8.startIndex, to: end.upperBound)
        if request.count - start >= length { return Array(request[start..<(start + length)]) }
    }
}
