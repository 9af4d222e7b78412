// Channel names: the ARKit 52 in canonical order (PROTOCOLS.md §1) and Live Link spelling.
#pragma once

#include <string>
#include <vector>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

/// The 52 ARKit names, Apple camelCase, canonical order (the `arkit52` set of the server).
TALKBRIDGEPROTOCOL_API const std::vector<std::string>& Arkit52Names();

/// The curve name Unreal's Live Link and MetaHuman's mh_arkit_mapping_pose expect:
/// PascalCase for ARKit, head and eye channels ("jawOpen" → "JawOpen", "headYaw" → "HeadYaw");
/// viseme channels ("viseme_aa") keep their name.
TALKBRIDGEPROTOCOL_API std::string LiveLinkCurveName(const std::string& channel);

}  // namespace talkbridge
