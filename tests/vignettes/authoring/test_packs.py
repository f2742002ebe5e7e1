"""Content packs and content files that are unusual are refused with a problem line (file,
field, what is wrong), never a 500 and never a blow-up: damaged or exotic zips, and YAML with
anchors and aliases, too many values or nesting, or values that cannot be built."""

import io
import struct
import zipfile

import pytest

from tests.conftest import browser_for
from tests.vignettes.helpers import (
    PACK_NAME,
    PACK_TEXT,
    bad_crc,
    central_directory,
    zip_of,
)
from vignettes import content_files
from vignettes.authoring import packs as authoring_packs

pytestmark = pytest.mark.django_db


def corrupt_deflate():
    data = zip_of({PACK_NAME: PACK_TEXT})
    start = 30 + len(PACK_NAME)  # the first byte of the compressed data
    data[start] = 0xFF  # block type 11: reserved, invalid deflate
    return data


def understated_size():
    data = zip_of({PACK_NAME: PACK_TEXT})
    struct.pack_into("<I", data, central_directory(data) + 24, 10)
    return data


def overstated_size():
    data = zip_of({PACK_NAME: PACK_TEXT})
    struct.pack_into("<I", data, central_directory(data) + 24, len(PACK_TEXT) + 5000)
    return data


def encrypted():
    data = zip_of({PACK_NAME: PACK_TEXT})
    struct.pack_into("<H", data, 6, 1)
    struct.pack_into("<H", data, central_directory(data) + 8, 1)
    return data


def unknown_method():
    data = zip_of({PACK_NAME: PACK_TEXT})
    struct.pack_into("<H", data, 8, 99)
    struct.pack_into("<H", data, central_directory(data) + 10, 99)
    return data


def bzip2():
    return zip_of({PACK_NAME: PACK_TEXT}, zipfile.ZIP_BZIP2)


def twice():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr(PACK_NAME, PACK_TEXT)
        archive.writestr(PACK_NAME, PACK_TEXT)
    return bytearray(buffer.getvalue())


def truncated():
    data = zip_of({PACK_NAME: PACK_TEXT})
    return data[: len(data) // 2] + data[-22:]


@pytest.mark.parametrize(("make", "problem"), [
    (bad_crc, "checksum (CRC-32) does not match"),
    (corrupt_deflate, "compressed data cannot be read"),
    (understated_size, "checksum (CRC-32) does not match"),
    (overstated_size, f"declares {len(PACK_TEXT) + 5000} bytes but it holds {len(PACK_TEXT)}"),
    (encrypted, "is encrypted"),
    (unknown_method, "compression method 99"),
    (bzip2, "compression method 12"),
    (twice, "appears twice"),
    (truncated, "is not a .zip file"),
])
def test_a_damaged_or_unusual_zip_is_a_problem_line(org, make, problem):
    bundle = authoring_packs.pack_read(data=bytes(make()), organization=org)
    assert any(problem in str(p) for p in bundle.problems), bundle.problems


def test_too_many_entries_and_too_much_unpacked(org, monkeypatch):
    many = zip_of({f"vignettes/v-{i}.md": b"x" for i in range(authoring_packs.PACK_MAX_FILES + 1)})
    assert "has more than" in str(authoring_packs.pack_read(data=bytes(many), organization=org)
                                  .problems)
    # Folders count as entries too: thousands of them are not a way round the limit.
    folders = zip_of({f"vignettes/d{i}/": b"" for i in range(authoring_packs.PACK_MAX_FILES + 1)})
    assert "has more than" in str(authoring_packs.pack_read(data=bytes(folders), organization=org)
                                  .problems)
    monkeypatch.setattr(authoring_packs, "PACK_MAX_TOTAL_BYTES", 1000)
    big = zip_of({PACK_NAME: PACK_TEXT, "vignettes/c-d-csem.md": PACK_TEXT})
    assert "unpacks to more than 1000 bytes" in str(
        authoring_packs.pack_read(data=bytes(big), organization=org).problems)


ALIAS_BOMB = "\n".join(
    ["---", "slug: bomb-x-csem", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]" for i in range(5)]
    + ["---", "body"]
)


def test_yaml_aliases_are_refused_not_expanded(org):
    bundle = authoring_packs.pack_read(data=bytes(zip_of({"vignettes/bomb-x-csem.md":
                                                  ALIAS_BOMB.encode()})), organization=org)
    assert len(bundle.problems) == 1
    assert "anchors and aliases (&name, *name) are not allowed" in str(bundle.problems[0])
    # Lines are counted within the front matter, as for every YAML problem there.
    assert str(bundle.problems[0]).startswith("vignettes/bomb-x-csem.md: front matter: YAML at "
                                              "line 2, column 4: ")


@pytest.mark.parametrize(("text", "problem"), [
    ("slug: x\nbase: &b {a: 1}\n", "anchors and aliases"),
    ("slug: x\nother: *b\n", "anchors and aliases"),  # an alias to nothing is refused too
    ("a: " + "[" * 50 + "]" * 50 + "\n", "nested more than 20 levels deep"),
    ("a: [" + ", ".join(["1"] * 20_000) + "]\n", "holds more than 10000 values"),
    ("a: " + "x" * 300_000 + "\n", "is longer than 200000 characters"),
    ("agreed_on: 2026-13-45\n", "has a value that cannot be read"),
])
def test_content_yaml_limits_are_problem_lines(text, problem):
    bundle = content_files.ContentBundle()
    assert content_files.parse_set("sets/x.yaml", text, bundle) is None
    assert len(bundle.problems) == 1 and problem in str(bundle.problems[0]), bundle.problems
    assert str(bundle.problems[0]).startswith("sets/x.yaml: -: YAML")


def test_a_date_that_does_not_exist_in_front_matter_is_a_problem_line():
    bundle = content_files.ContentBundle()
    text = "---\nslug: a-b-csem\nagreed_on: 2026-02-30\n---\nbody\n"
    assert content_files.parse_vignette("vignettes/a-b-csem.md", text, bundle) is None
    assert "has a value that cannot be read" in str(bundle.problems)


def test_the_bundled_content_still_reads_without_problems(settings):
    bundle = content_files.read_content_dir(settings.CALIBRATE_CONTENT_DIR)
    assert bundle.problems == []
    assert bundle.instruments and bundle.vignettes


def test_the_import_page_shows_the_problem_lines(org, instructor):
    client = browser_for(instructor)
    client.get("/author/packs/import/")
    for data, problem in [(bad_crc(), b"CRC-32"), (ALIAS_BOMB, b"anchors and aliases")]:
        if isinstance(data, str):
            data = zip_of({"vignettes/bomb-x-csem.md": data.encode()})
        upload = io.BytesIO(bytes(data))
        upload.name = "pack.zip"
        response = client.post("/author/packs/import/", {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value, "pack": upload})
        assert response.status_code == 200
        assert problem in response.content
        assert len(response.content) < 100_000


def test_exported_yaml_never_uses_aliases_so_it_reads_back():
    shared = ["csem-exclusive"]
    text = content_files.dump_yaml({"case_types": shared, "again": shared})
    assert "&" not in text and "*" not in text
    assert content_files.load_yaml(text) == {"case_types": shared, "again": shared}
