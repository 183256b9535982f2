// C++ tests of shims/libsrtp3/include/srtp.h, the header that maps mediasoup-worker 3.19's
// libsrtp 3.0-beta calls onto Debian's libsrtp2. It sits on the encryption path of every
// packet the worker sends and receives, so every crypto suite mediasoup negotiates is
// exercised the way SrtpSession uses it: outbound/inbound sessions with ssrc_any_*,
// allow_repeat_tx, a 1024-packet replay window; protect into a separate buffer, unprotect
// in place. Built and run by `run` beside this file (catch2 2.x from Debian).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <srtp.h>

#include <arpa/inet.h> // htonl()
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace
{
	struct Suite
	{
		const char* name;
		void (*rtp)(srtp_crypto_policy_t*);
		void (*rtcp)(srtp_crypto_policy_t*);
		size_t keyLen;
		size_t rtpTagLen;
		size_t rtcpTagLen;
	};

	// libsrtp2 defines some policy setters as macros, so each is wrapped in a function.
#define MS_POLICY_SETTER(setter) [](srtp_crypto_policy_t* p) { setter(p); }

	// The four suites of mediasoup's SrtpSession, with its RTCP choice for the 32-bit tag.
	const std::array<Suite, 4> Suites{ {
	  { "AEAD_AES_256_GCM",
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_gcm_256_16_auth),
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_gcm_256_16_auth),
	    44,
	    16,
	    16 },
	  { "AEAD_AES_128_GCM",
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_gcm_128_16_auth),
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_gcm_128_16_auth),
	    28,
	    16,
	    16 },
	  { "AES_CM_128_HMAC_SHA1_80",
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80),
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80),
	    30,
	    10,
	    10 },
	  { "AES_CM_128_HMAC_SHA1_32",
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32),
	    MS_POLICY_SETTER(srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80),
	    30,
	    4,
	    10 },
	} };

	// SRTCP adds the 4-byte E flag + index word before the tag.
	constexpr size_t SrtcpIndexLen{ 4 };

	class Library
	{
	public:
		Library()
		{
			REQUIRE(srtp_init() == srtp_err_status_ok);
		}
		~Library()
		{
			srtp_shutdown();
		}
	};

	class Session
	{
	public:
		Session(const Suite& suite, bool outbound, const std::vector<uint8_t>& key)
		{
			srtp_policy_t policy;

			std::memset(&policy, 0, sizeof(policy));
			suite.rtp(&policy.rtp);
			suite.rtcp(&policy.rtcp);
			REQUIRE(policy.rtp.cipher_key_len == static_cast<int>(key.size()));

			policy.ssrc.type       = outbound ? ssrc_any_outbound : ssrc_any_inbound;
			policy.ssrc.value      = 0;
			policy.key             = const_cast<uint8_t*>(key.data());
			policy.allow_repeat_tx = 1;
			policy.window_size     = 1024;
			policy.next            = nullptr;

			REQUIRE(srtp_create(&this->ctx, &policy) == srtp_err_status_ok);
		}
		~Session()
		{
			srtp_dealloc(this->ctx);
		}
		Session(const Session&)            = delete;
		Session& operator=(const Session&) = delete;

		srtp_t ctx{ nullptr };
	};

	std::vector<uint8_t> makeKey(size_t len, uint8_t seed)
	{
		std::vector<uint8_t> key(len);

		for (size_t i = 0; i < len; ++i)
		{
			key[i] = static_cast<uint8_t>(seed + i * 7);
		}

		return key;
	}

	// A minimal RTP packet: version 2, payload type 96, the given sequence number.
	std::vector<uint8_t> makeRtp(uint16_t seq, uint32_t ssrc, size_t payloadLen)
	{
		std::vector<uint8_t> packet(12 + payloadLen);

		packet[0] = 0x80;
		packet[1] = 96;
		packet[2] = static_cast<uint8_t>(seq >> 8);
		packet[3] = static_cast<uint8_t>(seq);

		const uint32_t ts = seq * 3000u;

		for (int i = 0; i < 4; ++i)
		{
			packet[4 + i] = static_cast<uint8_t>(ts >> (24 - 8 * i));
			packet[8 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
		}
		for (size_t i = 0; i < payloadLen; ++i)
		{
			packet[12 + i] = static_cast<uint8_t>(i * 31 + seq);
		}

		return packet;
	}

	// An RTCP receiver report with one report block (32 bytes).
	std::vector<uint8_t> makeRtcp(uint32_t ssrc)
	{
		std::vector<uint8_t> packet(32, 0);

		packet[0] = 0x81; // V=2, RC=1
		packet[1] = 201;  // RR
		packet[3] = 7;    // length in 32-bit words minus one
		for (int i = 0; i < 4; ++i)
		{
			packet[4 + i] = static_cast<uint8_t>(ssrc >> (24 - 8 * i));
			packet[8 + i] = static_cast<uint8_t>(0x5a + i);
		}

		return packet;
	}

	struct Protected
	{
		srtp_err_status_t status;
		std::vector<uint8_t> bytes;
	};

	// Protects into a separate buffer of `capacity` bytes, filled with a sentinel first.
	Protected protectInto(srtp_t ctx, const std::vector<uint8_t>& in, size_t capacity, bool rtcp)
	{
		std::vector<uint8_t> out(capacity + 16, 0xEE);
		size_t outLen = capacity;
		const srtp_err_status_t status =
		  rtcp ? srtp_protect_rtcp(ctx, in.data(), in.size(), out.data(), &outLen, 0)
		       : srtp_protect(ctx, in.data(), in.size(), out.data(), &outLen, 0);

		if (status != srtp_err_status_ok)
		{
			return { status, out };
		}
		out.resize(outLen);

		return { status, out };
	}

	// Unprotects in place, as mediasoup's SrtpSession::DecryptSrtp does.
	srtp_err_status_t unprotectInPlace(srtp_t ctx, std::vector<uint8_t>& packet, bool rtcp)
	{
		size_t len = packet.size();
		const srtp_err_status_t status =
		  rtcp ? srtp_unprotect_rtcp(ctx, packet.data(), packet.size(), packet.data(), &len)
		       : srtp_unprotect(ctx, packet.data(), packet.size(), packet.data(), &len);

		if (status == srtp_err_status_ok)
		{
			packet.resize(len);
		}

		return status;
	}
} // namespace

TEST_CASE("the two error codes libsrtp 3 added keep their numbers", "[srtp]")
{
	CHECK(static_cast<int>(srtp_err_status_buffer_small) == 28);
	CHECK(static_cast<int>(srtp_err_status_cryptex_err) == 29);
	CHECK(static_cast<int>(srtp_err_status_pkt_idx_adv) == 27);
}

TEST_CASE("every crypto suite round-trips RTP and RTCP", "[srtp]")
{
	Library library;

	for (const auto& suite : Suites)
	{
		SECTION(suite.name)
		{
			const auto key = makeKey(suite.keyLen, 3);
			Session sender(suite, true, key);
			Session receiver(suite, false, key);

			// Across a sequence number wrap, so the rollover counter moves too.
			for (uint32_t i = 0; i < 300; ++i)
			{
				const auto seq   = static_cast<uint16_t>(65400u + i);
				const auto plain = makeRtp(seq, 0x11223344, 40 + (i * 13) % 1100);
				auto result      = protectInto(sender.ctx, plain, plain.size() + SRTP_MAX_TRAILER_LEN, false);

				REQUIRE(result.status == srtp_err_status_ok);
				REQUIRE(result.bytes.size() == plain.size() + suite.rtpTagLen);
				// The header stays clear; the payload does not.
				REQUIRE(std::memcmp(result.bytes.data(), plain.data(), 12) == 0);
				REQUIRE(std::memcmp(result.bytes.data() + 12, plain.data() + 12, plain.size() - 12) != 0);

				REQUIRE(unprotectInPlace(receiver.ctx, result.bytes, false) == srtp_err_status_ok);
				REQUIRE(result.bytes == plain);
			}

			for (int i = 0; i < 50; ++i)
			{
				const auto plain = makeRtcp(0x11223344);
				auto result = protectInto(sender.ctx, plain, plain.size() + SRTP_MAX_TRAILER_LEN + 4, true);

				REQUIRE(result.status == srtp_err_status_ok);
				REQUIRE(result.bytes.size() == plain.size() + SrtcpIndexLen + suite.rtcpTagLen);
				REQUIRE(unprotectInPlace(receiver.ctx, result.bytes, true) == srtp_err_status_ok);
				REQUIRE(result.bytes == plain);
			}
		}
	}
}

TEST_CASE("protect in place and unprotect into a separate buffer work too", "[srtp]")
{
	Library library;

	for (const auto& suite : Suites)
	{
		SECTION(suite.name)
		{
			const auto key = makeKey(suite.keyLen, 9);
			Session sender(suite, true, key);
			Session receiver(suite, false, key);
			const auto plain = makeRtp(1000, 0xCAFE0001, 200);
			std::vector<uint8_t> buffer(plain.size() + SRTP_MAX_TRAILER_LEN);

			std::memcpy(buffer.data(), plain.data(), plain.size());

			size_t len = buffer.size();

			REQUIRE(
			  srtp_protect(sender.ctx, buffer.data(), plain.size(), buffer.data(), &len, 0) ==
			  srtp_err_status_ok);
			REQUIRE(len == plain.size() + suite.rtpTagLen);

			std::vector<uint8_t> out(len, 0);
			size_t outLen = out.size();

			REQUIRE(
			  srtp_unprotect(receiver.ctx, buffer.data(), len, out.data(), &outLen) ==
			  srtp_err_status_ok);
			REQUIRE(outLen == plain.size());
			REQUIRE(std::memcmp(out.data(), plain.data(), plain.size()) == 0);
		}
	}
}

TEST_CASE("tampered packets fail authentication", "[srtp]")
{
	Library library;

	for (const auto& suite : Suites)
	{
		SECTION(suite.name)
		{
			const auto key = makeKey(suite.keyLen, 21);
			Session sender(suite, true, key);
			Session receiver(suite, false, key);
			const auto plain = makeRtp(500, 0x01020304, 120);
			const auto good  = protectInto(sender.ctx, plain, plain.size() + SRTP_MAX_TRAILER_LEN, false);

			REQUIRE(good.status == srtp_err_status_ok);

			// One flipped bit in the header, the payload or the tag.
			for (const size_t offset : { size_t{ 1 }, size_t{ 20 }, good.bytes.size() - 1 })
			{
				auto bad = good.bytes;

				bad[offset] ^= 0x01;
				CHECK(unprotectInPlace(receiver.ctx, bad, false) == srtp_err_status_auth_fail);
			}

			// A truncated tag.
			auto truncated = good.bytes;

			truncated.resize(truncated.size() - 2);
			CHECK(unprotectInPlace(receiver.ctx, truncated, false) != srtp_err_status_ok);

			// A packet under another key.
			Session stranger(suite, true, makeKey(suite.keyLen, 77));
			auto foreign = protectInto(stranger.ctx, plain, plain.size() + SRTP_MAX_TRAILER_LEN, false);

			REQUIRE(foreign.status == srtp_err_status_ok);
			CHECK(unprotectInPlace(receiver.ctx, foreign.bytes, false) == srtp_err_status_auth_fail);

			// The genuine packet still passes after all that.
			auto copy = good.bytes;

			CHECK(unprotectInPlace(receiver.ctx, copy, false) == srtp_err_status_ok);

			// RTCP.
			const auto rtcp = makeRtcp(0x01020304);
			auto srtcp      = protectInto(sender.ctx, rtcp, rtcp.size() + SRTP_MAX_TRAILER_LEN + 4, true);

			REQUIRE(srtcp.status == srtp_err_status_ok);
			srtcp.bytes[10] ^= 0x80;
			CHECK(unprotectInPlace(receiver.ctx, srtcp.bytes, true) == srtp_err_status_auth_fail);
		}
	}
}

TEST_CASE("replayed packets are refused", "[srtp]")
{
	Library library;

	for (const auto& suite : Suites)
	{
		SECTION(suite.name)
		{
			const auto key = makeKey(suite.keyLen, 33);
			Session sender(suite, true, key);
			Session receiver(suite, false, key);
			const auto plain = makeRtp(7000, 0x0A0B0C0D, 64);
			const auto srtp  = protectInto(sender.ctx, plain, plain.size() + SRTP_MAX_TRAILER_LEN, false);
			auto first       = srtp.bytes;
			auto second      = srtp.bytes;

			REQUIRE(unprotectInPlace(receiver.ctx, first, false) == srtp_err_status_ok);
			CHECK(unprotectInPlace(receiver.ctx, second, false) == srtp_err_status_replay_fail);

			// Far older than the 1024-packet window.
			const auto newer = makeRtp(9000, 0x0A0B0C0D, 64);
			auto newerSrtp   = protectInto(sender.ctx, newer, newer.size() + SRTP_MAX_TRAILER_LEN, false);
			// The sender refuses to go that far back itself, so a second sender with the same
			// key (its own packet index state) produces the stale packet.
			Session lateSender(suite, true, key);
			const auto old = makeRtp(7001, 0x0A0B0C0D, 64);
			auto oldSrtp   = protectInto(lateSender.ctx, old, old.size() + SRTP_MAX_TRAILER_LEN, false);

			REQUIRE(oldSrtp.status == srtp_err_status_ok);

			REQUIRE(unprotectInPlace(receiver.ctx, newerSrtp.bytes, false) == srtp_err_status_ok);
			CHECK(unprotectInPlace(receiver.ctx, oldSrtp.bytes, false) == srtp_err_status_replay_old);

			const auto rtcp = makeRtcp(0x0A0B0C0D);
			const auto srtcp = protectInto(sender.ctx, rtcp, rtcp.size() + SRTP_MAX_TRAILER_LEN + 4, true);
			auto rtcpFirst  = srtcp.bytes;
			auto rtcpSecond = srtcp.bytes;

			REQUIRE(unprotectInPlace(receiver.ctx, rtcpFirst, true) == srtp_err_status_ok);
			CHECK(unprotectInPlace(receiver.ctx, rtcpSecond, true) == srtp_err_status_replay_fail);
		}
	}
}

TEST_CASE("short output buffers are refused and left untouched", "[srtp]")
{
	Library library;

	for (const auto& suite : Suites)
	{
		SECTION(suite.name)
		{
			const auto key = makeKey(suite.keyLen, 45);
			Session sender(suite, true, key);
			Session receiver(suite, false, key);
			const auto plain = makeRtp(42, 0x55667788, 300);
			const size_t exact = plain.size() + suite.rtpTagLen;

			for (const size_t capacity : { exact - 1, plain.size(), plain.size() - 1, size_t{ 0 } })
			{
				const auto result = protectInto(sender.ctx, plain, capacity, false);

				CHECK(result.status == srtp_err_status_buffer_small);
				for (const auto byte : result.bytes)
				{
					REQUIRE(byte == 0xEE);
				}
			}

			// Exactly the packet plus its trailer fits.
			auto fits = protectInto(sender.ctx, plain, exact, false);

			REQUIRE(fits.status == srtp_err_status_ok);
			REQUIRE(fits.bytes.size() == exact);

			// Unprotect into a separate buffer shorter than the SRTP packet.
			std::vector<uint8_t> out(exact - 1, 0xEE);
			size_t outLen = out.size();

			CHECK(
			  srtp_unprotect(receiver.ctx, fits.bytes.data(), fits.bytes.size(), out.data(), &outLen) ==
			  srtp_err_status_buffer_small);
			for (const auto byte : out)
			{
				REQUIRE(byte == 0xEE);
			}
			// The refused attempt did not consume the packet's index.
			CHECK(unprotectInPlace(receiver.ctx, fits.bytes, false) == srtp_err_status_ok);

			// RTCP: packet + index + tag is the minimum.
			const auto rtcp       = makeRtcp(0x55667788);
			const size_t rtcpNeed = rtcp.size() + SrtcpIndexLen + suite.rtcpTagLen;
			const auto shortRtcp  = protectInto(sender.ctx, rtcp, rtcpNeed - 1, true);

			CHECK(shortRtcp.status == srtp_err_status_buffer_small);
			CHECK(protectInto(sender.ctx, rtcp, rtcpNeed, true).status == srtp_err_status_ok);
		}
	}
}

TEST_CASE("MKI indexes, null pointers and removed streams", "[srtp]")
{
	Library library;
	const auto& suite = Suites[2];
	const auto key    = makeKey(suite.keyLen, 60);
	Session sender(suite, true, key);
	const auto plain = makeRtp(1, 0x99999999, 20);
	std::vector<uint8_t> out(plain.size() + SRTP_MAX_TRAILER_LEN);
	size_t outLen = out.size();

	CHECK(
	  srtp_protect(sender.ctx, plain.data(), plain.size(), out.data(), &outLen, 1) ==
	  srtp_err_status_bad_mki);
	CHECK(
	  srtp_protect_rtcp(sender.ctx, plain.data(), plain.size(), out.data(), &outLen, 2) ==
	  srtp_err_status_bad_mki);
	CHECK(
	  srtp_protect(sender.ctx, nullptr, plain.size(), out.data(), &outLen, 0) ==
	  srtp_err_status_bad_param);
	CHECK(
	  srtp_unprotect(sender.ctx, plain.data(), plain.size(), out.data(), nullptr) ==
	  srtp_err_status_bad_param);

	// A stream exists once a packet of its SSRC was protected; removing it twice fails the
	// second time.
	REQUIRE(
	  srtp_protect(sender.ctx, plain.data(), plain.size(), out.data(), &outLen, 0) ==
	  srtp_err_status_ok);
	CHECK(srtp_stream_remove(sender.ctx, htonl(0x99999999)) == srtp_err_status_ok);
	CHECK(srtp_stream_remove(sender.ctx, htonl(0x99999999)) != srtp_err_status_ok);
}
