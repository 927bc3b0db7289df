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

/// A TCP socket listening on 127.0.0.1 at a free port: its descriptor and port, nil when the system refuses one. For
/// the tests' fake servers, which serve it on a thread of their own.
public func listenOnLoopback(backlog: Int32 = 16) -> (socket: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0, listen(fd, backlog) == 0 else { close(fd); return nil }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}
