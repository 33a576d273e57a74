#!/usr/bin/env bash
# Drives `gemma4 chat` in a real terminal (tmux), as a user would: type a
# message, see the answer and a new prompt, use commands, leave with /exit.
# Usage: chat_tmux_test.sh GEMMA4_BINARY MODEL. Exit 77 (skipped) without tmux.
set -u
bin=$1
model=$2
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 77; }
session=gemma4_chat_test_$$
sock=/tmp/$session.sock
t() { tmux -S "$sock" "$@"; }
cleanup() { t kill-server >/dev/null 2>&1; rm -f "$sock"; }
trap cleanup EXIT

t new-session -d -s "$session" -x 120 -y 40 "$bin chat -m $model -n 6 --temp 0; echo CHAT-EXITED-\$?; sleep 30"

# Waits until the screen matches a pattern (grep -E), up to 30 s.
wait_for() {
  for _ in $(seq 1 300); do
    if t capture-pane -p -t "$session" | grep -qE "$1"; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $1"
  t capture-pane -p -t "$session"
  exit 1
}
count() { t capture-pane -p -t "$session" | grep -cE "$1"; }

wait_for "Type a message"
wait_for "^>( |$)"
t send-keys -t "$session" "Hello there" Enter
# The answer is printed, then a fresh prompt appears.
for _ in $(seq 1 300); do [ "$(count '^>( |$)')" -ge 2 ] && break; sleep 0.1; done
[ "$(count '^>( |$)')" -ge 2 ] || { echo "no second prompt after the answer"; t capture-pane -p -t "$session"; exit 1; }
t send-keys -t "$session" "/think on" Enter
wait_for "\(thinking on\)"
t send-keys -t "$session" "/reset" Enter
wait_for "\(conversation cleared\)"
t send-keys -t "$session" "/nonsense" Enter
wait_for "unknown command /nonsense"
# A message over two lines (a trailing backslash continues it).
t send-keys -t "$session" 'first line \' Enter
wait_for "^\.( |$)"
t send-keys -t "$session" "second line" Enter
for _ in $(seq 1 300); do [ "$(count '^>( |$)')" -ge 6 ] && break; sleep 0.1; done
t send-keys -t "$session" "/exit" Enter
wait_for "CHAT-EXITED-0"
echo "chat drove fine in tmux:"
t capture-pane -p -t "$session"
