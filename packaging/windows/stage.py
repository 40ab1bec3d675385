#!/usr/bin/env python3
"""Stages the Windows workstation and writes its WiX source (for wixl).

    stage.py GST_ROOT VIGIE_EXE STAGE_DIR VERSION

GST_ROOT holds the GStreamer wheels unpacked (one folder per wheel). The stage gets:
  bin/vigie.exe and the DLLs it and the plugins import (found with objdump, transitively),
  lib/gstreamer-1.0/ the plugins of plugins.txt,
  libexec/gstreamer-1.0/gst-plugin-scanner.exe and its DLLs,
  share/doc/ Vigie's README, the GStreamer wheels' versions and licences,
and STAGE_DIR/vigie.wxs lists every file, with a Start-menu shortcut for the live wall and
one for review, a model client.toml in %ProgramData%\\Vigie, and the upgrade code.
The list of files and the installed size go to STAGE_DIR/files.txt.
"""

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
# Never change: a newer MSI of Vigie replaces an older one in place.
UPGRADE_CODE = "6E0F7C52-3D8B-4B9A-9C1D-7A51B2E3F402"
# Component GUIDs derive from the installed path, stable across versions.
NAMESPACE = uuid.UUID("0b0e6d0c-5a1f-4b5e-9f37-2c6f3d0a9e11")
OBJDUMP = os.environ.get("OBJDUMP", "x86_64-w64-mingw32-objdump")


def listed(path):
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def imports(dll):
    text = subprocess.run(
        [OBJDUMP, "-p", str(dll)], check=True, capture_output=True, text=True
    ).stdout
    return re.findall(r"DLL Name: (\S+)", text)


def main():
    gst_root, exe, stage, version = (Path(sys.argv[1]), Path(sys.argv[2]),
                                     Path(sys.argv[3]), sys.argv[4])
    # Every DLL the wheels carry, by lower-case name; plugins by name.
    dlls, plugins = {}, {}
    for p in gst_root.rglob("*.dll"):
        if p.parent.name == "gstreamer-1.0" and p.parent.parent.name == "lib":
            plugins[p.stem] = p
        elif p.parent.name == "bin":
            dlls.setdefault(p.name.lower(), p)
    scanner = next(gst_root.rglob("gst-plugin-scanner.exe"))

    if stage.exists():
        shutil.rmtree(stage)
    (stage / "bin").mkdir(parents=True)
    (stage / "lib/gstreamer-1.0").mkdir(parents=True)
    (stage / "libexec/gstreamer-1.0").mkdir(parents=True)
    shutil.copy2(exe, stage / "bin/vigie.exe")
    shutil.copy2(scanner, stage / "libexec/gstreamer-1.0/gst-plugin-scanner.exe")
    wanted = listed(HERE / "plugins.txt")
    missing = [w for w in wanted if w not in plugins]
    if missing:
        sys.exit(f"stage.py: plugins.txt names plugins the wheels lack: {', '.join(missing)}")
    for w in wanted:
        shutil.copy2(plugins[w], stage / "lib/gstreamer-1.0" / f"{w}.dll")

    # The DLLs imported, transitively; those not in the wheels are Windows' own.
    todo = [stage / "bin/vigie.exe", stage / "libexec/gstreamer-1.0/gst-plugin-scanner.exe"]
    todo += sorted((stage / "lib/gstreamer-1.0").glob("*.dll"))
    seen, system = set(), set()
    while todo:
        for name in imports(todo.pop()):
            key = name.lower()
            if key in seen or key in system:
                continue
            if key in dlls:
                seen.add(key)
                dst = stage / "bin" / dlls[key].name
                shutil.copy2(dlls[key], dst)
                todo.append(dst)
            else:
                system.add(key)

    docs = stage / "share/doc/vigie"
    docs.mkdir(parents=True)
    root = HERE.parent.parent
    for f in ["README.md", "ARCHITECTURE.md", "LICENSE-MIT", "LICENSE-APACHE"]:
        if (root / f).exists():
            shutil.copy2(root / f, docs / f)
    # The GStreamer wheels' metadata: their versions and licences (LGPL and others).
    gdocs = stage / "share/doc/gstreamer"
    gdocs.mkdir(parents=True)
    for meta in sorted(gst_root.glob("*.dist-info/METADATA")):
        shutil.copy2(meta, gdocs / (meta.parent.name.replace(".dist-info", "") + ".txt"))
    (stage / "etc").mkdir()
    # A model only: the site's own client.toml beside it is never the installer's, so that
    # upgrades and uninstalls leave it alone.
    shutil.copy2(HERE / "client.toml", stage / "etc/client.toml.example")

    files = sorted(p for p in stage.rglob("*") if p.is_file() and p.name != "vigie.wxs")
    size = sum(p.stat().st_size for p in files)
    with open(stage / "files.txt", "w") as f:
        for p in files:
            f.write(f"{p.stat().st_size:>10} {p.relative_to(stage).as_posix()}\n")
        f.write(f"{size:>10} in all ({len(files)} files)\n")
        f.write("Windows DLLs imported (not shipped): " + ", ".join(sorted(system)) + "\n")
    (stage / "vigie.wxs").write_text(wxs(stage, files, version))
    print(f"stage.py: {len(files)} files, {size / 2**20:.1f} MiB, in {stage}")


def ident(prefix, rel):
    return prefix + "_" + uuid.uuid5(NAMESPACE, rel).hex[:24]


def wxs(stage, files, version):
    # The folder tree under INSTALLDIR, from the staged files (etc/ goes to %ProgramData%).
    tree = {}
    for p in files:
        rel = p.relative_to(stage)
        if rel.parts[0] == "etc":
            continue
        node = tree
        for part in rel.parts[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(None, []).append(rel)
    refs = []

    def component(rel, indent):
        r = rel.as_posix()
        cid = ident("c", r)
        refs.append(cid)
        guid = str(uuid.uuid5(NAMESPACE, "component:" + r)).upper()
        return (f'{indent}<Component Id="{cid}" Guid="{guid}" Win64="yes">\n'
                f'{indent}  <File Id="{ident("f", r)}" Name={quoteattr(rel.name)} '
                f'Source={quoteattr(rel.as_posix())} KeyPath="yes"/>\n'
                f'{indent}</Component>\n')

    def folder(node, path, indent):
        out = ""
        for rel in node.get(None, []):
            out += component(rel, indent)
        for name, sub in sorted((k, v) for k, v in node.items() if k is not None):
            p = f"{path}/{name}" if path else name
            out += f'{indent}<Directory Id="{ident("d", p)}" Name={quoteattr(name)}>\n'
            out += folder(sub, p, indent + "  ")
            out += f"{indent}</Directory>\n"
        return out

    exe = ident("f", "bin/vigie.exe")
    bindir = ident("d", "bin")
    body = folder(tree, "", "          ")
    conf = component(Path("etc/client.toml.example"), "          ")
    refs_xml = "".join(f'      <ComponentRef Id="{r}"/>\n' for r in refs)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Vigie" Manufacturer="Vigie developers" Language="1033"
           Version="{version}" UpgradeCode="{UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine"
             Description="Vigie control-room workstation {version}"/>
    <Media Id="1" Cabinet="vigie.cab" EmbedCab="yes"/>
    <MajorUpgrade DowngradeErrorMessage="A newer Vigie is already installed."/>
    <InstallExecuteSequence>
      <RemoveExistingProducts After="InstallExecute"/>
    </InstallExecuteSequence>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Vigie">
{body}        </Directory>
      </Directory>
      <Directory Id="CommonAppDataFolder">
        <Directory Id="CONFDIR" Name="Vigie">
{conf}        </Directory>
      </Directory>
      <Directory Id="ProgramMenuFolder">
        <Directory Id="MENUDIR" Name="Vigie">
          <Component Id="c_shortcuts" Guid="{str(uuid.uuid5(NAMESPACE, 'shortcuts')).upper()}" Win64="yes">
            <Shortcut Id="s_live" Name="Vigie live wall" Description="Live views of the site's cameras"
                      Target="[#{exe}]" Arguments="live" WorkingDirectory="{bindir}"/>
            <Shortcut Id="s_review" Name="Vigie review" Description="Recorded footage: playback and exports"
                      Target="[#{exe}]" Arguments="review" WorkingDirectory="{bindir}"/>
            <RemoveFolder Id="r_menu" On="uninstall"/>
            <RegistryValue Root="HKLM" Key="Software\\Vigie" Name="shortcuts" Type="integer"
                           Value="1" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Workstation" Title="Vigie workstation" Level="1">
{refs_xml}      <ComponentRef Id="c_shortcuts"/>
    </Feature>
  </Product>
</Wix>
"""


if __name__ == "__main__":
    main()
