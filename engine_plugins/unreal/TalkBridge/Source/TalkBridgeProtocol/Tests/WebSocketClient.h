// A minimal blocking WebSocket client for the live test (Boost.Beast, test-only).
// Beast stays inside WebSocketClient.cpp, the one translation unit that pays its compile time.
#pragma once

#include <memory>
#include <string>

#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {
namespace testing {

class WebSocketClient {
public:
    /// Connects to ws://host:port/path; nullptr with `error` set on failure.
    static std::unique_ptr<WebSocketClient> Connect(const std::string& url, double timeout_s, std::string& error);
    virtual ~WebSocketClient() = default;

    /// Sends one binary message.
    virtual bool Send(const Bytes& message, std::string& error) = 0;
    /// Waits at most `timeout_s` for one message; false on timeout, close or error.
    virtual bool Receive(Bytes& message, bool& binary, double timeout_s, std::string& error) = 0;
    virtual void Close() = 0;
};

}  // namespace testing
}  // namespace talkbridge
