"""``talkbridge chat`` in a terminal: typed turns in, the persona's replies out."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_chat_answers_typed_turns_and_remembers_across_runs(tmp_path):
    memory = tmp_path / "memory.sqlite3"
    run = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "chat", "--no-audio", "--memory", str(memory)],
        input="hello\nwhat is your name\n/quit\n", capture_output=True, text=True, cwd=ROOT,
        timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Ada> Hi, I'm Ada." in out                     # the greeting
    assert "Ada> My name is Ada." in out                  # an answer, streamed to the terminal
    assert out.count("you> ") == 3
    from bridge.llm.memory import ConversationMemory

    history = ConversationMemory(str(memory)).history("terminal")
    assert [m.content for m in history if m.role == "user"] == ["hello", "what is your name"]


def test_chat_reports_a_bad_config_clearly(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[dialogue]\nend_silense = 0.3\n")
    run = subprocess.run([sys.executable, "-m", "bridge.cli", "chat", "--no-audio", "--config",
                          str(config)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode != 0
    assert "end_silense" in run.stderr and "end_silence" in run.stderr
