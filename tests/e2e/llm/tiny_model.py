#!/usr/bin/env python3
"""Write NetWatch's test language model: a GGUF llama model of ~0.5 MB that llama.cpp serves
like any other, and that answers every chat request with the same sentence (REPLY below), so a
test can assert the exact text that reaches SQLite, the API and the WebSocket.

How: a llama graph whose attention and feed-forward outputs are ~0, so each position's hidden
state is its own token's embedding (a bigram model). Every ordinary token embeds on dimension 0,
reply word k on dimension k+1; the output matrix maps dimension 0 to the first reply word, word
k to word k+1 and the last word to end-of-sequence. Reply words exist only as whole pieces in
the vocabulary (no merges lead to them), so prompt text never produces them.

usage: tiny_model.py OUT.gguf        (pip: gguf numpy)
"""
import sys

import gguf
import numpy as np

REPLY = ["\u2581Check", "\u2581the", "\u2581device", "\u2581named", "\u2581in", "\u2581this", "\u2581alert."]
DIM, HEADS, LAYERS, FF, CTX = 64, 4, 2, 128, 4096
MARGIN = 4.0


def vocabulary():
    pieces = [("<unk>", gguf.TokenType.UNKNOWN), ("<s>", gguf.TokenType.CONTROL),
              ("</s>", gguf.TokenType.CONTROL)]
    pieces += [(f"<0x{b:02X}>", gguf.TokenType.BYTE) for b in range(256)]
    pieces += [("\u2581", gguf.TokenType.NORMAL)]
    pieces += [(chr(c), gguf.TokenType.NORMAL) for c in range(33, 127)]
    pieces += [(w, gguf.TokenType.NORMAL) for w in REPLY]
    scores = [0.0] * 259 + [-1.0] + [-2.0] * 94 + [-10.0] * len(REPLY)
    return [p for p, _ in pieces], scores, [t for _, t in pieces]


def write(path):
    tokens, scores, types = vocabulary()
    n = len(tokens)
    index = {t: i for i, t in enumerate(tokens)}
    words = [index[w] for w in REPLY]
    eos = index["</s>"]

    embed = np.zeros((n, DIM), dtype=np.float32)
    embed[:, 0] = 1.0
    for k, i in enumerate(words):
        embed[i] = 0.0
        embed[i, k + 1] = 1.0
    output = np.zeros((n, DIM), dtype=np.float32)
    output[words[0], 0] = MARGIN
    for k in range(1, len(words)):
        output[words[k], k] = MARGIN
    output[eos, len(words)] = MARGIN

    rng = np.random.default_rng(7)

    def noise(rows, cols, scale):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("netwatch-test-model")
    w.add_context_length(CTX)
    w.add_embedding_length(DIM)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FF)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_rope_dimension_count(DIM // HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_vocab_size(n)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(eos)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    w.add_tensor("token_embd.weight", embed)
    w.add_tensor("output_norm.weight", np.ones(DIM, dtype=np.float32))
    w.add_tensor("output.weight", output)
    for layer in range(LAYERS):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", np.ones(DIM, dtype=np.float32))
        for m in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(p + m + ".weight", noise(DIM, DIM, 0.2))
        w.add_tensor(p + "attn_output.weight", noise(DIM, DIM, 1e-3))
        w.add_tensor(p + "ffn_norm.weight", np.ones(DIM, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", noise(FF, DIM, 0.2))
        w.add_tensor(p + "ffn_up.weight", noise(FF, DIM, 0.2))
        w.add_tensor(p + "ffn_down.weight", noise(DIM, FF, 1e-3))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    write(sys.argv[1])
    print("reply:", "".join(REPLY).replace("\u2581", " ").strip())
