// Symbol export for the TalkBridgeProtocol module.
//
// Unreal's build defines TALKBRIDGEPROTOCOL_API (dllexport/dllimport) for the module; the
// CMake build links statically and needs nothing.
#pragma once

#ifndef TALKBRIDGEPROTOCOL_API
#define TALKBRIDGEPROTOCOL_API
#endif
