"""Reads a c1z file the way a baton reader does, independently of ramsync's encoder: checks
the magic, inflates the zstd frame, opens the SQLite database and parses each row's `data`
with c1.connector.v2 classes that Google's protobuf compiler (grpcio-tools) generates from
c1z/c1_connector_v2.proto. Prints one JSON document: the sync run, the zstd frame's header,
and every resource type, resource, entitlement and grant as decoded.

    python c1z_decode.py sync.c1z
"""

import importlib.resources
import json
import os
import sqlite3
import sys
import tempfile

import zstandard
from google.protobuf import json_format
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))


def compiled(out):
    include = str(importlib.resources.files("grpc_tools") / "_proto")
    protos = os.path.join(HERE, "c1z")
    status = protoc.main(
        [
            "protoc",
            f"-I{protos}",
            f"-I{include}",
            f"--python_out={out}",
            os.path.join(protos, "c1_connector_v2.proto"),
        ]
    )
    if status != 0:
        sys.exit(f"protoc failed with {status}")
    sys.path.insert(0, out)
    import c1_connector_v2_pb2

    return c1_connector_v2_pb2


def ref(resource_id):
    return {"type": resource_id.resource_type, "id": resource_id.resource}


def annotations(pb, anys):
    out = {}
    for a in anys:
        name = a.type_url.rsplit("/", 1)[-1]
        cls = getattr(pb, name.rsplit(".", 1)[-1], None)
        if cls is None:
            out[name] = None
            continue
        message = cls()
        if not a.Unpack(message):
            sys.exit(f"annotation {a.type_url} does not unpack")
        out[name] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return out


def main(path):
    work = tempfile.mkdtemp()
    pb = compiled(work)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:5] != b"C1ZF\x00":
        sys.exit(f"not a c1z (SQLite format) file: it starts {raw[:5]!r}")
    frame = zstandard.get_frame_parameters(raw[5:])
    db = os.path.join(work, "db")
    with open(db, "wb") as out:
        out.write(zstandard.ZstdDecompressor().decompress(raw[5:], max_output_size=1 << 31))
    con = sqlite3.connect(db)
    runs = con.execute(
        "SELECT sync_id, started_at, ended_at, sync_type, sync_token FROM v1_sync_runs"
    ).fetchall()
    if len(runs) != 1:
        sys.exit(f"expected one sync run, found {len(runs)}")
    sync_id = runs[0][0]
    for table in ("v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"):
        (others,) = con.execute(f"SELECT count(*) FROM {table} WHERE sync_id != ?", (sync_id,)).fetchone()
        if others:
            sys.exit(f"{table} has {others} rows of another sync")

    doc = {
        "sync": dict(zip(["sync_id", "started_at", "ended_at", "sync_type", "sync_token"], runs[0])),
        "frame": {"content_size": frame.content_size, "has_checksum": frame.has_checksum},
        "tables": sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")),
        "resource_types": [],
        "resources": [],
        "entitlements": [],
        "grants": [],
    }
    for external_id, data in con.execute("SELECT external_id, data FROM v1_resource_types ORDER BY id"):
        t = pb.ResourceType.FromString(data)
        assert t.id == external_id, (t.id, external_id)
        doc["resource_types"].append(
            {
                "id": t.id,
                "display_name": t.display_name,
                "traits": [pb.ResourceType.Trait.Name(x) for x in t.traits],
                "annotations": annotations(pb, t.annotations),
            }
        )
    for type_id, external_id, parent_type, parent_id, data in con.execute(
        "SELECT resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data FROM v1_resources ORDER BY id"
    ):
        r = pb.Resource.FromString(data)
        assert external_id == f"{r.id.resource_type}:{r.id.resource}", external_id
        assert type_id == r.id.resource_type
        parent = ref(r.parent_resource_id) if r.HasField("parent_resource_id") else None
        assert (parent_type, parent_id) == ((parent["type"], parent["id"]) if parent else (None, None))
        doc["resources"].append(
            {
                "ref": ref(r.id),
                "parent": parent,
                "display_name": r.display_name,
                "description": r.description,
                "status": pb.Resource.Status.ResourceStatus.Name(r.status.status) if r.HasField("status") else None,
                "profile": json_format.MessageToDict(r.profile),
                "annotations": annotations(pb, r.annotations),
            }
        )
    for type_id, resource_id, external_id, data in con.execute(
        "SELECT resource_type_id, resource_id, external_id, data FROM v1_entitlements ORDER BY id"
    ):
        e = pb.Entitlement.FromString(data)
        assert e.id == external_id and (type_id, resource_id) == (e.resource.id.resource_type, e.resource.id.resource)
        doc["entitlements"].append(
            {
                "id": e.id,
                "resource": ref(e.resource.id),
                "slug": e.slug,
                "display_name": e.display_name,
                "purpose": pb.Entitlement.PurposeValue.Name(e.purpose),
                "grantable_to": [t.id for t in e.grantable_to],
            }
        )
    for row in con.execute(
        "SELECT resource_type_id, resource_id, entitlement_id, principal_resource_type_id, principal_resource_id, external_id, data FROM v1_grants ORDER BY id"
    ):
        g = pb.Grant.FromString(row[6])
        columns = (
            g.entitlement.resource.id.resource_type,
            g.entitlement.resource.id.resource,
            g.entitlement.id,
            g.principal.id.resource_type,
            g.principal.id.resource,
            g.id,
        )
        assert row[:6] == columns, (row[:6], columns)
        doc["grants"].append(
            {
                "id": g.id,
                "entitlement": g.entitlement.id,
                "resource": ref(g.entitlement.resource.id),
                "principal": ref(g.principal.id),
                "principal_display_name": g.principal.display_name,
                "annotations": annotations(pb, g.annotations),
            }
        )
    json.dump(doc, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
