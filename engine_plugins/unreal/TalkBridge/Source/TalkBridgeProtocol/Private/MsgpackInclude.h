// The one include of msgpack-cxx (Source/ThirdParty/msgpack, MSGPACK_NO_BOOST).
//
// Private to this module, which Unreal builds with C++ exceptions enabled: msgpack-cxx
// reports failures by throwing, and Decode.cpp turns every throw into a ProtocolError.
// Inside Unreal the headers are wrapped in THIRD_PARTY_INCLUDES_START/END, and Unreal's
// function-like `check`/`verify` macros are parked because msgpack declares a `check(...)`.
#pragma once

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif

#if defined(TALKBRIDGE_UNREAL_BUILD) && TALKBRIDGE_UNREAL_BUILD
#include "HAL/Platform.h"
THIRD_PARTY_INCLUDES_START
#endif

#pragma push_macro("check")
#pragma push_macro("verify")
#undef check
#undef verify

#include <msgpack/object.hpp>
#include <msgpack/pack.hpp>
#include <msgpack/sbuffer.hpp>
#include <msgpack/unpack.hpp>

#pragma pop_macro("verify")
#pragma pop_macro("check")

#if defined(TALKBRIDGE_UNREAL_BUILD) && TALKBRIDGE_UNREAL_BUILD
THIRD_PARTY_INCLUDES_END
#endif
