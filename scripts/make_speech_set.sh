#!/usr/bin/env bash
# Synthesizes a small keyword-spotting data set in the layout of Google Speech Commands with espeak-ng
# and sox: one folder per word of 1 s, 16 kHz mono 16-bit WAV clips named <speaker>_nohash_<k>.wav,
# _background_noise_/ and (unless --no-lists) validation_list.txt and testing_list.txt by speaker.
# The same seed gives the same files. Run with --help for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/make_speech_set.sh OUT_DIR [options]

Synthesizes a Google Speech Commands style data set into OUT_DIR (which must not exist yet):
  <word>/<speaker>_nohash_<k>.wav   ten keywords (yes no up down left right on off stop go) and ten
                                    other words for _unknown_ (bed bird cat dog happy house marvin
                                    sheila tree wow); 1 s, 16 kHz, mono, 16-bit PCM
  _background_noise_/*.wav          white, pink and brown noise and a mains hum, 30-60 s each
  validation_list.txt, testing_list.txt   clips of about 10 % of the speakers each (whole speakers)

A speaker is one espeak-ng voice + variant + pitch + speed; its id is 8 hex digits of a hash of that
combination. Each utterance gets its own tempo, pitch shift, gain, start time and a little noise.

Options:
  --speakers N     number of speakers (default 40)
  --utterances N   utterances per speaker and word (default 2)
  --seed S         seed of the speakers, utterances, splits and noise (default 0)
  --no-lists       omit validation_list.txt and testing_list.txt (readers then split by hash)
  --jobs N         parallel synthesis jobs (default: the number of cores)
  --force          replace OUT_DIR if it exists
  -h, --help       this help

Needs espeak-ng and sox (apt-get install espeak-ng sox). Writes into a temporary folder beside
OUT_DIR and renames it at the end, so OUT_DIR is never half written.
EOF
}

fail() {
  echo "make_speech_set.sh: $*" >&2
  exit 2
}

out_dir=""
speakers=40
utterances=2
seed=0
lists=1
jobs=$(nproc 2>/dev/null || echo 1)
force=0
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --speakers) speakers=${2:-}; shift 2 || fail "--speakers needs a value" ;;
    --utterances) utterances=${2:-}; shift 2 || fail "--utterances needs a value" ;;
    --seed) seed=${2:-}; shift 2 || fail "--seed needs a value" ;;
    --jobs) jobs=${2:-}; shift 2 || fail "--jobs needs a value" ;;
    --no-lists) lists=0; shift ;;
    --force) force=1; shift ;;
    -*) fail "unknown option '$1' (see --help)" ;;
    *) [[ -z "$out_dir" ]] || fail "more than one OUT_DIR given ('$out_dir', '$1')"; out_dir=$1; shift ;;
  esac
done
[[ -n "$out_dir" ]] || { usage >&2; exit 2; }
for pair in "speakers:$speakers" "utterances:$utterances" "jobs:$jobs"; do
  [[ "${pair#*:}" =~ ^[1-9][0-9]{0,4}$ ]] || fail "--${pair%%:*} must be a positive integer, got '${pair#*:}'"
done
[[ "$seed" =~ ^[0-9]{1,15}$ ]] || fail "--seed must be a non-negative integer, got '$seed'"
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install espeak-ng sox)"
done
out_dir=${out_dir%/}
if [[ -e "$out_dir" && $force == 0 ]]; then fail "'$out_dir' exists (--force replaces it)"; fi
mkdir -p "$(dirname "$out_dir")"

# --- Deterministic choices: FNV-1a 64 of a text, kept non-negative, in bash arithmetic (no process). ---
hash_to() {  # hash_to VAR TEXT
  local text=$2 hash=-3750763034362895579 i code  # the FNV offset basis 0xcbf29ce484222325
  for ((i = 0; i < ${#text}; i++)); do
    printf -v code '%d' "'${text:i:1}"
    hash=$(((hash ^ code) * 1099511628211))
  done
  printf -v "$1" '%d' $((hash & 0x3fffffffffffffff))
}
export -f hash_to

KEYWORDS="yes no up down left right on off stop go"
OTHER_WORDS="bed bird cat dog happy house marvin sheila tree wow"
VOICES=(en-us en-gb en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd en-029 en-us-nyc)
VARIANTS=(m1 m2 m3 m4 m5 m6 m7 f1 f2 f3 f4 f5 klatt klatt2 klatt3 croak)

start_seconds=$SECONDS
work="$out_dir.tmp.$$"
scratch=$(mktemp -d)
trap 'rm -rf "$work" "$scratch"' EXIT
mkdir -p "$work/_background_noise_"
for word in $KEYWORDS $OTHER_WORDS; do mkdir -p "$work/$word"; done

# --- Speakers: distinct voice + variant + pitch + speed combinations. ---
declare -A taken=()
h=0 id_hash=0  # set by hash_to
speaker_table="$scratch/speakers.txt"
: >"$speaker_table"
for ((s = 0; s < speakers; s++)); do
  for ((attempt = 0; ; attempt++)); do
    hash_to h "$seed/speaker/$s/$attempt"
    voice=${VOICES[h % ${#VOICES[@]}]}
    variant=${VARIANTS[(h >> 8) % ${#VARIANTS[@]}]}
    pitch=$((25 + (h >> 16) % 51))
    speed=$((130 + (h >> 24) % 51))
    hash_to id_hash "$voice+$variant/pitch $pitch/speed $speed"
    printf -v id '%08x' $((id_hash & 0xffffffff))
    [[ -z "${taken[$id]:-}" ]] && break
  done
  taken[$id]=1
  echo "$s $id $voice $variant $pitch $speed" >>"$speaker_table"
done

# --- Noise: the background noise files of the set and, apart, a noise source for the clips. ---
# sox -R seeds its noise generator with a fixed number; the seed picks where each file starts.
make_noise() {  # make_noise FILE SECONDS SYNTH...
  local file=$1 seconds=$2 skip
  shift 2
  hash_to skip "$seed/noise/${file##*/}"
  skip=$((skip % 20))
  sox -V1 -R -D -n -r 16000 -c 1 -b 16 "$file" synth $((seconds + skip)) "$@" trim "$skip" "$seconds"
}
make_noise "$work/_background_noise_/white_noise.wav" 45 whitenoise vol 0.25
make_noise "$work/_background_noise_/pink_noise.wav" 60 pinknoise vol 0.35
make_noise "$work/_background_noise_/brown_noise.wav" 50 brownnoise vol 0.5
make_noise "$work/_background_noise_/mains_hum.wav" 30 sine 50 sine mix 100 sine mix 150 pinknoise mix vol 0.3
make_noise "$scratch/clip_noise.wav" 60 pinknoise vol 0.5
echo "background noise: $(ls "$work/_background_noise_" | tr '\n' ' ')"

# --- Clips: one job per speaker, every word and utterance. ---
render_speaker() {  # render_speaker INDEX ID VOICE VARIANT PITCH SPEED
  set -euo pipefail
  local index=$1 id=$2 voice=$3 variant=$4 pitch=$5 speed=$6 word k h tempo cents gain lead level offset
  local spoken="$SCRATCH/$id.wav"
  for word in $KEYWORDS $OTHER_WORDS; do
    for ((k = 0; k < UTTERANCES; k++)); do
      hash_to h "$SEED/clip/$id/$word/$k"
      printf -v tempo '%d.%02d' $(((88 + h % 25) / 100)) $(((88 + h % 25) % 100))  # 0.88 .. 1.12
      cents=$(((h >> 5) % 241 - 120))                                              # -120 .. 120
      gain=$((-1 - (h >> 13) % 9))                                                 # peak -1 .. -9 dB
      printf -v lead '0.%03d' $((40 + (h >> 17) % 200))                            # 40 .. 239 ms
      printf -v level '0.%03d' $((3 + (h >> 25) % 10))                             # noise 0.003 .. 0.012
      printf -v offset '%d.%03d' $(((h >> 29) % 58)) $(((h >> 35) % 1000))         # 0 .. 58 s
      espeak-ng -v "$voice+$variant" -s $((speed + (h >> 45) % 11 - 5)) -p "$pitch" --stdout "$word" >"$spoken"
      sox -V1 -R -D -m \
        -v 1 "|sox -V1 -R -D $spoken -t wav -c 1 -b 16 - silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse rate 16000 tempo $tempo pitch $cents gain -n $gain pad $lead 1 trim 0 1" \
        -v "$level" "|sox -V1 -R -D $CLIP_NOISE -t wav - trim $offset 1" \
        -b 16 -e signed-integer "$WORK/$word/${id}_nohash_$k.wav" trim 0 1
    done
  done
  rm -f "$spoken"
  echo "speaker $((index + 1))/$SPEAKERS done: $id ($voice+$variant, pitch $pitch, speed $speed)"
}
export -f render_speaker
export KEYWORDS OTHER_WORDS UTTERANCES=$utterances SEED=$seed SPEAKERS=$speakers WORK=$work SCRATCH=$scratch \
  CLIP_NOISE="$scratch/clip_noise.wav"
echo "synthesizing $speakers speakers x $(wc -w <<<"$KEYWORDS $OTHER_WORDS") words x $utterances utterances on $jobs jobs"
xargs -P "$jobs" -L 1 bash -c 'render_speaker "$@"' render_speaker <"$speaker_table"

# --- Split lists: whole speakers, about 10 % each to validation and test, at least one train speaker. ---
if ((lists)); then
  held_out=$(((speakers * 10 + 99) / 100))
  if ((2 * held_out >= speakers)); then held_out=$(((speakers - 1) / 2)); fi
  while read -r _ id _; do
    hash_to h "$seed/split/$id"
    echo "$h $id"
  done <"$speaker_table" | sort -n -k1,1 -k2,2 | awk '{print $2}' >"$scratch/speaker_order.txt"
  list_clips() {  # list_clips FIRST COUNT: the clips of speakers FIRST .. FIRST+COUNT-1 of the order
    local speaker
    for speaker in $(tail -n +"$1" "$scratch/speaker_order.txt" | head -n "$2"); do
      (cd "$work" && ls -- */"${speaker}"_nohash_*.wav)
    done | LC_ALL=C sort
  }
  list_clips 1 "$held_out" >"$work/validation_list.txt"
  list_clips $((held_out + 1)) "$held_out" >"$work/testing_list.txt"
fi

# --- Counts, then the rename that makes the set appear whole. ---
clips=$(find "$work" -path "$work/_background_noise_" -prune -o -name '*.wav' -print | wc -l)
echo "words:"
for word in $KEYWORDS $OTHER_WORDS; do printf '  %-7s %d\n' "$word" "$(ls "$work/$word" | wc -l)"; done
if ((lists)); then
  echo "splits: $(wc -l <"$work/validation_list.txt") validation and $(wc -l <"$work/testing_list.txt") test clips" \
    "($held_out speakers each), $((clips - $(cat "$work/validation_list.txt" "$work/testing_list.txt" | wc -l))) train"
fi
if [[ -e "$out_dir" ]]; then
  mv -T "$out_dir" "$out_dir.old.$$"
  mv -T "$work" "$out_dir"
  rm -rf "$out_dir.old.$$"
else
  mv -T "$work" "$out_dir"
fi
echo "wrote $clips clips of $speakers speakers and $(ls "$out_dir/_background_noise_" | wc -l) noise files to $out_dir" \
  "in $((SECONDS - start_seconds)) s"
