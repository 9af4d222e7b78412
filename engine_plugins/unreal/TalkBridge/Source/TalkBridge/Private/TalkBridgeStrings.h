// FString ⇄ UTF-8 std::string at the border between Unreal and the protocol core.
#pragma once

#include "Containers/StringConv.h"
#include "Containers/UnrealString.h"

#include <string>

namespace TalkBridgeStrings
{
	inline std::string ToUtf8(const FString& Text)
	{
		const FTCHARToUTF8 Converted(*Text);
		return std::string(Converted.Get(), Converted.Length());
	}

	inline FString FromUtf8(const std::string& Text)
	{
		const FUTF8ToTCHAR Converted(Text.data(), static_cast<int32>(Text.size()));
		return FString(Converted.Length(), Converted.Get());
	}
}
