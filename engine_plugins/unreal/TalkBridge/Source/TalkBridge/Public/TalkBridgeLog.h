#pragma once

#include "Logging/LogMacros.h"

TALKBRIDGE_API DECLARE_LOG_CATEGORY_EXTERN(LogTalkBridge, Log, All);
