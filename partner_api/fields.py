"""Shared shapes of the partner API."""

from __future__ import annotations

from rest_framework import serializers


def money(amount_minor: int, currency: str) -> dict:
    """`{"amount": <integer minor units>, "currency": "EUR"}` everywhere."""
    return {"amount": amount_minor, "currency": currency}


class MoneySerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Integer minor units (cents, kobo...)")
    currency = serializers.CharField(help_text="ISO 4217")
