"""A local stand-in for Tencent Cloud's TTS and ASR APIs (``TextToVoice`` 2019-08-23,
``SentenceRecognition`` 2019-06-14) speaking their
wire protocol: HTTPS-style JSON POSTs (plain HTTP on loopback), TC3-HMAC-SHA256 signatures
checked with its own code, ``{"Response": {...}}`` replies with base64 PCM and per-character
``Subtitles`` (ms, pinyin), and Tencent's error shape. Audio: each character a 240 ms voiced
buzz, a bilabial's first 60 ms silent (the closure), so the timings can be checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

SECRET_ID, SECRET_KEY = "AKIDfake0000", "fake-secret-key"
PINYIN = {"爸": "ba4", "买": "mai3", "了": "le5", "本": "ben3", "书": "shu1", "我": "wo3",
          "不": "bu4", "一": "yi4", "怕": "pa4", "女": "nv3", "五": "wu3", "妈": "ma1", "你": "ni3", "好": "hao3"}
CHAR_S, CLOSURE_S = 0.24, 0.06


def _expected_signature(headers, body: bytes, service: str = "tts") -> str:
    """Tencent's TC3-HMAC-SHA256, written out here from the API's documentation."""
    stamp = int(headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d")
    host = headers["Host"]
    canonical_request = (f"POST\n/\n\ncontent-type:{headers['Content-Type']}\nhost:{host}\n\n"
                         f"content-type;host\n{hashlib.sha256(body).hexdigest()}")
    string_to_sign = (f"TC3-HMAC-SHA256\n{stamp}\n{date}/{service}/tc3_request\n"
                      f"{hashlib.sha256(canonical_request.encode()).hexdigest()}")
    key = ("TC3" + SECRET_KEY).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}")


def speak(text: str, rate: int) -> tuple[np.ndarray, list[dict]]:
    pcm, subtitles = [], []
    t = np.arange(int(CHAR_S * rate)) / rate
    for index, char in enumerate(text):
        pinyin = PINYIN.get(char)
        if pinyin is None:
            continue
        start = len(subtitles) * CHAR_S
        buzz = 0.3 * np.sign(np.sin(2 * np.pi * 160 * t)) * np.hanning(len(t)) ** 0.3
        if pinyin[0] in "bpm":
            buzz[: int(CLOSURE_S * rate)] = 0.0
        pcm.append(buzz)
        subtitles.append({"Text": char, "BeginTime": int(start * 1000),
                          "EndTime": int((start + CHAR_S) * 1000), "BeginIndex": index,
                          "EndIndex": index + 1, "Phoneme": pinyin})
    audio = np.concatenate(pcm) if pcm else np.zeros(0)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2"), subtitles


class FakeTencent:
    """Serves on 127.0.0.1 until closed; ``requests`` keeps every request body (parsed)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[dict] = []
        self.heard: list[np.ndarray] = []     # the PCM each recognition request carried
        self.transcript = "你好"               # what its recognizer "hears"
        self.delay = delay
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if fake.delay:
                    threading.Event().wait(fake.delay)
                action = (self.headers.get("X-TC-Action"), self.headers.get("X-TC-Version"))
                service = {("TextToVoice", "2019-08-23"): "tts",
                           ("SentenceRecognition", "2019-06-14"): "asr"}.get(action)
                if service is None:
                    return self._reply({"Error": {"Code": "InvalidAction", "Message": "no such action"}})
                if self.headers.get("Authorization") != _expected_signature(self.headers, body, service):
                    return self._reply({"Error": {"Code": "AuthFailure.SignatureFailure",
                                                  "Message": "The provided credentials could not be validated."}})
                request = json.loads(body)
                fake.requests.append(request)
                if service == "asr":
                    audio = base64.b64decode(request["Data"])
                    if len(audio) != request["DataLen"] or request["VoiceFormat"] != "pcm":
                        return self._reply({"Error": {"Code": "InvalidParameter",
                                                      "Message": "DataLen or VoiceFormat"}})
                    fake.heard.append(np.frombuffer(audio, "<i2"))
                    return self._reply({"Result": fake.transcript,
                                        "AudioDuration": len(audio) // 32})
                pcm, subtitles = speak(request["Text"], request["SampleRate"])
                self._reply({"Audio": base64.b64encode(pcm.tobytes()).decode(),
                             "SessionId": request["SessionId"],
                             "Subtitles": subtitles if request.get("EnableSubtitle") else []})

            def _reply(self, response: dict) -> None:
                data = json.dumps({"Response": {**response, "RequestId": "fake-1"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
