"""Reading untrusted text files (size, encoding, control characters) and bounded YAML composing."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from common import yamlnodes
from common.filetext import FileProblem, decode_text, read_bytes, read_text, size_text
from common.schema import ConfigError, load_yaml
from common.yamlnodes import MAX_DEPTH, YamlProblem, compose


@dataclass(frozen=True)
class Doc:
    """Any mapping with these optional keys."""

    a: str = ""
    b: tuple[str, ...] = ()


def problem(data: bytes) -> FileProblem:
    with pytest.raises(FileProblem) as info:
        decode_text(data, "f.yml")
    return info.value


def test_utf8_with_or_without_bom_and_vietnamese_text_pass() -> None:
    assert decode_text("a: Xã Thử\n".encode(), "f") == "a: Xã Thử\n"
    assert decode_text(codecs.BOM_UTF8 + b"a: 1\n", "f") == "a: 1\n"
    assert decode_text(b"a:\t1\r\n", "f") == "a:\t1\r\n"


@pytest.mark.parametrize(("encoding", "name"), [
    ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_wide_encodings_are_named(encoding: str, name: str) -> None:
    found = problem("commune: '16318'\nmodules: {}\n".encode(encoding))
    assert str(found) == (f"f.yml: file is {name} text, not UTF-8 (save it as UTF-8, e.g. iconv "
                          f"-f {name} -t UTF-8)")


def test_latin1_byte_nul_and_control_characters_give_line_and_column() -> None:
    assert str(problem("a: 1\nb: Hóa\n".encode("latin-1"))) == (
        "f.yml:2:5: byte 0xf3 is not UTF-8 (save the file as UTF-8, e.g. iconv -f LATIN1 -t "
        "UTF-8)")
    assert (problem(b"a: 1\nbb\x00: 2\n").line, problem(b"a: 1\nbb\x00: 2\n").column) == (2, 3)
    assert "NUL byte" in str(problem(b"a\x00"))
    assert "control character U+001B" in str(problem(b"a: \x1b[2J\n"))
    assert "control character U+009B" in str(problem("a: \x9b\n".encode()))


def test_size_cap_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_text("a: 1\n")
    big.write_bytes(b"a" * 2049)
    with pytest.raises(FileProblem, match=r"file is 2.0 KiB, over the 2 KiB limit for a test"):
        read_bytes(big, 2048, "a test")
    assert read_bytes(big, 2049, "a test") == b"a" * 2049
    # A device (or a pipe) has no size: refused after max + 1 bytes.
    with pytest.raises(FileProblem, match="over the 1 KiB limit"):
        read_bytes(Path("/dev/zero"), 1024, "a test")
    with pytest.raises(IsADirectoryError):
        read_text(tmp_path, 1024, "a test")
    assert (size_text(4 << 20), size_text(1536), size_text(10)) == ("4 MiB", "1.5 KiB", "10 bytes")


def test_deep_nesting_is_refused_in_flow_and_block_style() -> None:
    for text in ("a: " + "[" * 100_000 + "]" * 100_000, "a: " + "[" * 101 + "]" * 101,
                 "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 1)),
                 "- " * (MAX_DEPTH + 1) + "x\n"):
        with pytest.raises(YamlProblem, match=f"nested more than {MAX_DEPTH} levels"):
            compose(text)
    root, loader = compose("a: " + "[" * 98 + "]" * 98)
    loader.dispose()
    assert isinstance(root, yaml.MappingNode)


def test_alias_bombs_and_cycles_are_refused() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(8))
    with pytest.raises(YamlProblem, match=r"aliases .* expand to more than"):
        compose(laughs)
    with pytest.raises(YamlProblem):
        compose("a: &a [*a]\n")
    root, loader = compose("d: &d {a: 1}\nx: [*d, *d, *d]\n")  # ordinary use passes
    loader.dispose()
    assert root is not None


def test_the_pure_python_composer_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlnodes, "SafeLoader", yaml.SafeLoader)  # as without libyaml
    with pytest.raises(YamlProblem, match="nested more than") as info:
        compose("a: " + "[" * 100_000 + "]" * 100_000)
    assert (info.value.line, info.value.column) == (1, 3 + MAX_DEPTH)
    with pytest.raises(YamlProblem, match="expected ',' or '}', but got '<stream end>'"):
        compose("a: {b: 1\n")
    assert load_yaml(Doc, "a: x\nb: [y]\n", "f.yml") == Doc("x", ("y",))


def test_unconstructable_scalars_and_complex_keys_are_config_errors() -> None:
    cases = {
        "a: !!python/object:os.system x\n": "f.yml:1:4: a: cannot read 'x' (could not determine "
                                            "a constructor for the tag",
        "a: 2024-13-45\n": "f.yml:1:4: a: cannot read '2024-13-45' (month must be in 1..12)",
        "? [x]\n: 1\n": "f.yml:1:3: expected a key name, got a list",
        "\"\\e[2J\": 1\n": "f.yml:1:1: \\x1b[2J: unknown key (known: a, b)",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError) as info:
            load_yaml(Doc, text, "f.yml")
        assert str(info.value).startswith(message) or message in str(info.value), text
    assert load_yaml(Doc, "", "f.yml") == Doc()  # an empty file is an empty mapping
    assert load_yaml(Doc, 'a: "\\e[2J"', "f.yml") == Doc("\x1b[2J")  # an escape is text


def test_escapes_beyond_unicode_are_yaml_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML's pure-Python scanner raises ValueError/OverflowError for these (found by fuzzing)."""
    for text in ('(:\n"#######/\\U00130000', '"""\\Ua0000000', '"""\\U00a00000'):
        with pytest.raises(ConfigError, match="invalid YAML"):
            load_yaml(Doc, text, "f.yml")
    monkeypatch.setattr(yamlnodes, "SafeLoader", yaml.SafeLoader)
    with pytest.raises(YamlProblem, match="invalid YAML"):
        compose('a: "\\U00130000"')
