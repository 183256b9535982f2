// libsrtp 3.0-beta API on top of Debian's libsrtp2 2.5 (libsrtp2-dev).
//
// mediasoup-worker 3.19 is written against versatica's libsrtp fork "3.0.0-beta", whose
// protect/unprotect calls take a separate input and output buffer with an explicit output
// capacity. libsrtp2 protects in place and assumes that the caller's buffer has room for
// the trailer. This header includes the libsrtp2 header and adds, as C++ overloads (the
// libsrtp2 C functions keep their names and C linkage), exactly the calls mediasoup makes:
//
//   srtp_protect(ctx, in, in_len, out, &out_len, mki_index)       -> in place srtp_protect
//   srtp_protect_rtcp(ctx, in, in_len, out, &out_len, mki_index)  -> in place srtp_protect_rtcp
//   srtp_unprotect(ctx, in, in_len, out, &out_len)                -> in place srtp_unprotect
//   srtp_unprotect_rtcp(ctx, in, in_len, out, &out_len)           -> in place srtp_unprotect_rtcp
//   srtp_stream_remove(session, ssrc)                             -> srtp_remove_stream
//   srtp_err_status_buffer_small (28), srtp_err_status_cryptex_err (29)
//
// Rules, as in libsrtp 3: *out_len holds the capacity of `out` on entry and the length of
// the result on success. Protect copies `in` to `out` (memmove: they may be the same or
// overlap) only after checking that the packet plus the session's trailer (the exact
// length libsrtp2 reports for this session: tag, MKI, SRTCP index) fits, otherwise it
// returns srtp_err_status_buffer_small and writes nothing. Unprotect needs `in_len` bytes
// of capacity (the packet is verified in place in `out`). A non-zero mki_index is refused
// with srtp_err_status_bad_mki: mediasoup never configures MKIs. Lengths beyond INT_MAX,
// which libsrtp2 cannot represent, are refused with srtp_err_status_bad_param.
//
// Tested by native-config/worker/shim-tests (round trips for every crypto suite mediasoup
// uses, tampering, replay, short output buffers).
#ifndef MS_SHIM_LIBSRTP3_SRTP_H
#define MS_SHIM_LIBSRTP3_SRTP_H

#include <srtp2/srtp.h>

#ifdef __cplusplus

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

// Error codes libsrtp 3 added after srtp_err_status_pkt_idx_adv (27). Values 28 and 29 lie
// within the range of libsrtp2's enum, so the conversion is well defined.
static constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
static constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

namespace ms_srtp3_shim
{
	enum class Kind
	{
		Rtp,
		Rtcp
	};

	// Shared body of both protect forms: check, copy, protect in place.
	inline srtp_err_status_t Protect(
	  Kind kind, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, size_t mkiIndex)
	{
		if (ctx == nullptr || in == nullptr || out == nullptr || outLen == nullptr)
		{
			return srtp_err_status_bad_param;
		}
		if (mkiIndex != 0)
		{
			return srtp_err_status_bad_mki;
		}
		if (inLen > static_cast<size_t>(INT_MAX) - 1024)
		{
			return srtp_err_status_bad_param;
		}

		uint32_t trailerLen{ 0 };
		const srtp_err_status_t trailerErr =
		  kind == Kind::Rtp ? srtp_get_protect_trailer_length(ctx, 0, 0, &trailerLen)
		                    : srtp_get_protect_rtcp_trailer_length(ctx, 0, 0, &trailerLen);

		if (trailerErr != srtp_err_status_ok)
		{
			return trailerErr;
		}
		if (*outLen < inLen || *outLen - inLen < trailerLen)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  kind == Kind::Rtp ? ::srtp_protect(ctx, out, &len) : ::srtp_protect_rtcp(ctx, out, &len);

		if (err != srtp_err_status_ok)
		{
			return err;
		}

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}

	// Shared body of both unprotect forms: the packet is verified and decrypted in `out`.
	inline srtp_err_status_t Unprotect(
	  Kind kind, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (ctx == nullptr || in == nullptr || out == nullptr || outLen == nullptr)
		{
			return srtp_err_status_bad_param;
		}
		if (inLen > static_cast<size_t>(INT_MAX))
		{
			return srtp_err_status_bad_param;
		}
		if (*outLen < inLen)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  kind == Kind::Rtp ? ::srtp_unprotect(ctx, out, &len) : ::srtp_unprotect_rtcp(ctx, out, &len);

		if (err != srtp_err_status_ok)
		{
			return err;
		}

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}
} // namespace ms_srtp3_shim

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	return ms_srtp3_shim::Protect(ms_srtp3_shim::Kind::Rtp, ctx, rtp, rtpLen, srtp, srtpLen, mkiIndex);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	return ms_srtp3_shim::Protect(
	  ms_srtp3_shim::Kind::Rtcp, ctx, rtcp, rtcpLen, srtcp, srtcpLen, mkiIndex);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return ms_srtp3_shim::Unprotect(ms_srtp3_shim::Kind::Rtp, ctx, srtp, srtpLen, rtp, rtpLen);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return ms_srtp3_shim::Unprotect(ms_srtp3_shim::Kind::Rtcp, ctx, srtcp, srtcpLen, rtcp, rtcpLen);
}

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return ::srtp_remove_stream(session, ssrc);
}

#endif // __cplusplus

#endif // MS_SHIM_LIBSRTP3_SRTP_H
