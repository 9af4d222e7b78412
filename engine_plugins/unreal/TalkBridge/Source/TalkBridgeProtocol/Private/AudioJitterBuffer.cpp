#include "TalkBridgeProtocol/AudioJitterBuffer.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace talkbridge {

AudioJitterBuffer::AddResult AudioJitterBuffer::Add(double t, std::vector<std::int16_t> samples) {
    auto start = static_cast<std::int64_t>(std::llround(t * config_.sample_rate));
    const auto end = start + static_cast<std::int64_t>(samples.size());
    if (end <= released_) {
        ++stats_.late_chunks;
        return AddResult::Late;
    }
    if (start < released_) {  // the head of the chunk is already gone: keep its tail
        samples.erase(samples.begin(), samples.begin() + (released_ - start));
        start = released_;
    }
    if (pending_.count(start) != 0) {
        ++stats_.duplicate_chunks;
        return AddResult::Duplicate;
    }
    pending_.emplace(start, std::move(samples));
    return AddResult::Accepted;
}

std::int64_t AudioJitterBuffer::BufferedSamples() const {
    std::int64_t total = 0;
    for (const auto& chunk : pending_) total += static_cast<std::int64_t>(chunk.second.size());
    return total;
}

std::int64_t AudioJitterBuffer::ContiguousFromCursor() const {
    std::int64_t cursor = released_;
    for (const auto& chunk : pending_) {
        if (chunk.first > cursor) break;
        cursor = std::max(cursor, chunk.first + static_cast<std::int64_t>(chunk.second.size()));
    }
    return cursor - released_;
}

bool AudioJitterBuffer::ReadyToStart() const {
    return ended_ || ContiguousFromCursor() >= std::llround(config_.prebuffer * config_.sample_rate);
}

std::size_t AudioJitterBuffer::Take(std::vector<std::int16_t>& out) {
    if (!started_ && !ReadyToStart()) return 0;
    started_ = true;
    const std::size_t before = out.size();
    const auto max_gap = static_cast<std::int64_t>(std::llround(config_.max_gap_wait * config_.sample_rate));
    while (!pending_.empty()) {
        auto first = pending_.begin();
        if (first->first > released_) {  // a hole: wait for it, or give up on it
            if (!ended_ && BufferedSamples() < max_gap) break;
            const std::int64_t hole = first->first - released_;
            out.insert(out.end(), static_cast<std::size_t>(hole), std::int16_t{0});
            stats_.silence_samples += hole;
            released_ = first->first;
        }
        const std::vector<std::int16_t>& chunk = first->second;
        const std::int64_t skip = released_ - first->first;  // overlap with audio already out
        if (skip < static_cast<std::int64_t>(chunk.size())) {
            out.insert(out.end(), chunk.begin() + skip, chunk.end());
            released_ = first->first + static_cast<std::int64_t>(chunk.size());
        }
        pending_.erase(first);
    }
    return out.size() - before;
}

}  // namespace talkbridge
