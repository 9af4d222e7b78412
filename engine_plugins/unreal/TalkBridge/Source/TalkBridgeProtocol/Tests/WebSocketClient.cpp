#include "WebSocketClient.h"

#include <chrono>
#include <regex>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace talkbridge {
namespace testing {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

std::chrono::milliseconds Ms(double seconds) {
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

class BeastClient final : public WebSocketClient {
public:
    bool Open(const std::string& host, const std::string& port, const std::string& path, double timeout_s,
              std::string& error) {
        beast::error_code ec;
        asio::ip::tcp::resolver resolver(ioc_);
        const auto endpoints = resolver.resolve(host, port, ec);
        if (ec) return Fail(error, "resolve", ec);
        beast::get_lowest_layer(ws_).expires_after(Ms(timeout_s));
        beast::get_lowest_layer(ws_).connect(endpoints, ec);
        if (ec) return Fail(error, "connect", ec);
        beast::get_lowest_layer(ws_).expires_never();
        ws_.handshake(host + ":" + port, path, ec);
        if (ec) return Fail(error, "handshake", ec);
        ws_.binary(true);
        ws_.read_message_max(8u << 20);
        return true;
    }

    bool Send(const Bytes& message, std::string& error) override {
        beast::error_code ec;
        ws_.write(asio::buffer(message), ec);
        return ec ? Fail(error, "write", ec) : true;
    }

    bool Receive(Bytes& message, bool& binary, double timeout_s, std::string& error) override {
        beast::flat_buffer buffer;
        beast::error_code result;
        bool done = false;
        ws_.async_read(buffer, [&](beast::error_code ec, std::size_t) {
            result = ec;
            done = true;
        });
        ioc_.restart();
        ioc_.run_for(Ms(timeout_s));
        if (!done) {  // time is up: abandon the read, and the connection with it
            beast::get_lowest_layer(ws_).socket().close();
            ioc_.restart();
            ioc_.run();
            error = "no message within " + std::to_string(timeout_s) + " s";
            return false;
        }
        if (result) return Fail(error, "read", result);
        const auto* data = static_cast<const std::uint8_t*>(buffer.data().data());
        message.assign(data, data + buffer.size());
        binary = ws_.got_binary();
        return true;
    }

    void Close() override {
        beast::error_code ec;
        ws_.close(websocket::close_code::normal, ec);
    }

private:
    static bool Fail(std::string& error, const char* what, const beast::error_code& ec) {
        error = std::string(what) + ": " + ec.message();
        return false;
    }

    asio::io_context ioc_;
    websocket::stream<beast::tcp_stream> ws_{ioc_};
};

}  // namespace

std::unique_ptr<WebSocketClient> WebSocketClient::Connect(const std::string& url, double timeout_s,
                                                          std::string& error) {
    static const std::regex pattern(R"(ws://([^/:]+):(\d+)(/.*)?)");
    std::smatch match;
    if (!std::regex_match(url, match, pattern)) {
        error = "not a ws://host:port/path URL: " + url;
        return nullptr;
    }
    auto client = std::make_unique<BeastClient>();
    const std::string path = match[3].matched ? match[3].str() : "/";
    if (!client->Open(match[1].str(), match[2].str(), path, timeout_s, error)) return nullptr;
    return client;
}

}  // namespace testing
}  // namespace talkbridge
