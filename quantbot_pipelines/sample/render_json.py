"""Telegram Desktop JSON (`result.json`): one chat, or the whole account with chats.list / left_chats.list."""

from __future__ import annotations

import datetime as dt

from quantbot_pipelines.sample.world import Chat, Msg

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"
ABOUT = "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your data."


def local_iso(ts: int, offset_s: int) -> str:
    """`date` is the wall clock of the exporting computer, without an offset."""
    return dt.datetime.fromtimestamp(ts + offset_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def text_fields(parts: list) -> tuple[str | list, list[dict]]:
    """(`text`, `text_entities`): a plain string when there are no entities, else the mixed list."""
    if all(isinstance(p, str) for p in parts):
        joined = "".join(parts)
        return joined, ([{"type": "plain", "text": joined}] if joined else [])
    merged: list = []  # Telegram never writes two plain strings in a row
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        elif p != "":
            merged.append(p)
    return merged, [{"type": "plain", "text": p} if isinstance(p, str) else p for p in merged]


def json_message(m: Msg, offset_s: int) -> dict:
    d: dict = {"id": m.id, "type": m.kind, "date": local_iso(m.ts, offset_s), "date_unixtime": str(m.ts)}
    if m.kind == "service":
        d.update(actor=m.sender.name, actor_id=m.sender.id, action=m.action)
        if m.members:
            d["members"] = m.members
        if m.action == "pin_message" and m.reply_to is not None:
            d["message_id"] = m.reply_to.id
        d.update(text="", text_entities=[])
        return d
    if m.edited_ts:
        d.update(edited=local_iso(m.edited_ts, offset_s), edited_unixtime=str(m.edited_ts))
    d.update({"from": m.sender.name, "from_id": m.sender.id})
    if m.author:
        d["author"] = m.author
    if m.fwd_from:
        d["forwarded_from"] = m.fwd_from
    if m.reply_to is not None:
        d["reply_to_message_id"] = m.reply_to.id
    if m.media == "photo":
        d.update(photo=NOT_INCLUDED, photo_file_size=182344, width=1280, height=720)
    elif m.media == "sticker":
        d.update(
            file=NOT_INCLUDED,
            file_size=31250,
            thumbnail=NOT_INCLUDED,
            thumbnail_file_size=7002,
            media_type="sticker",
            sticker_emoji="🚀",
            width=512,
            height=512,
        )
    d["text"], d["text_entities"] = text_fields(m.parts)
    return d


def json_chat(chat: Chat, offset_s: int) -> dict:
    d = chat.defn
    return {
        "name": d.name,
        "type": d.type,
        "id": d.id,
        "messages": [json_message(m, offset_s) for m in chat.messages],
    }


def account_root(chats: list[dict], left: list[dict]) -> dict:
    return {
        "about": ABOUT,
        "personal_information": {
            "user_id": 700000100,
            "first_name": "Sam",
            "last_name": "",
            "phone_number": "+1 555 0100",
            "username": "@sam_trades",
            "bio": "",
        },
        "contacts": {"about": "This is your contact list.", "list": []},
        "frequent_contacts": {"about": "This is the list of people you message often.", "list": []},
        "chats": {"about": "This page lists all chats from this export.", "list": chats},
        "left_chats": {
            "about": "This page lists all supergroups and channels from this export that you've left.",
            "list": left,
        },
    }
