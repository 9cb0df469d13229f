"""Extra training fonts from the package registry (no font hub needed).

The clue reader generalises to unseen prints only as far as its training fonts
vary; the installed ones give six families. These PyPI packages ship more, and
``fetch`` copies their font files into one folder that the renderer reads through
``VLM_PUZZLE_FONT_DIRS``. No family here is one of the evaluation's
``HELD_OUT_FAMILIES`` (pygame's FreeSans, for one, is left out for that reason);
``vlm_puzzle/render/heldout.py`` says which are trained on and which are kept
for model selection. Usage::

    python training/font_packs.py .fonts       # downloads the packages with pip, extracts the fonts
    export VLM_PUZZLE_FONT_DIRS=$PWD/.fonts

Licenses: Roboto, Source Sans/Serif Pro (SIL OFL / Apache-2.0), Lato, Fredoka
One, Amatic SC, Playfair Display (SIL OFL); STIX (SIL OFL), BaKoMa Computer
Modern and Bitstream Vera (their own free licenses) as shipped by matplotlib.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

# package==version -> font file stems to take from it.
PACKAGES = {
    "font-roboto==0.0.1": ("Roboto-Regular", "Roboto-Bold", "Roboto-Italic", "Roboto-Light",
                           "Roboto-Medium", "Roboto-Black", "Roboto-Thin", "Roboto-BoldItalic"),
    "font-lato==0.1.0": ("Lato-Regular", "Lato-Bold", "Lato-Italic", "Lato-Light", "Lato-Black"),
    "font-source-sans-pro==0.0.1": ("SourceSansPro-Regular", "SourceSansPro-Bold", "SourceSansPro-It",
                                    "SourceSansPro-Light", "SourceSansPro-Semibold", "SourceSansPro-Black"),
    "font-source-serif-pro==0.0.1": ("SourceSerifPro-Regular", "SourceSerifPro-Bold", "SourceSerifPro-It",
                                     "SourceSerifPro-Light", "SourceSerifPro-Semibold"),
    "font-fredoka-one==0.0.4": ("FredokaOne-Regular",),
    "font-amatic-sc==0.0.4": ("AmaticSC-Regular", "AmaticSC-Bold"),
    "matplotlib==3.11.2": ("STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
                           "cmr10", "cmb10", "cmss10", "cmtt10", "cmti10"),
    "reportlab==5.1.0": ("Vera", "VeraBd", "VeraIt", "VeraBI"),
}
def fetch(dest: Path, python: str = sys.executable) -> list[Path]:
    """Download the wheels/sdists of :data:`PACKAGES` (``pip download --no-deps``)
    and copy the listed font files into ``dest``; returns the files written."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {stem for stems in PACKAGES.values() for stem in stems}
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([python, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, *PACKAGES],
                       check=True)
        for archive in sorted(Path(tmp).iterdir()):
            for name, read in _members(archive):
                p = PurePosixPath(name)
                if p.suffix.lower() == ".ttf" and p.stem in wanted and not (dest / p.name).exists():
                    (dest / p.name).write_bytes(read())
                    written.append(dest / p.name)
    missing = wanted - {p.stem for p in dest.iterdir()}
    if missing:
        raise SystemExit(f"fonts not found in the packages: {sorted(missing)}")
    return written


def _members(archive: Path):
    """(name, reader) of every file in a wheel (zip) or an sdist (tar.gz)."""
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        z = zipfile.ZipFile(archive)
        return [(n, lambda n=n: z.read(n)) for n in z.namelist()]
    import tarfile
    t = tarfile.open(archive)
    return [(m.name, lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    files = fetch(ap.parse_args().dest)
    print(f"{len(files)} font files written")
