//! Reading `<coprocs>`: one entry per child element BOINC knows, with its defaults filled in
//! (BOINC's `COPROCS::parse` and the vendors' `parse` and `set_peak_flops`). A generic
//! `<coproc>` without a `<type>` is dropped, as BOINC drops it; BOINC keeps at most 8 resources
//! (the CPU and 7 coprocessors), so further entries are ignored.

use super::opencl::OpenclProps;
use super::{AppleInfo, AtiInfo, Coproc, Coprocs, MAX_INSTANCES, MEGA, NvidiaInfo, Vendor};
use crate::sched::elements::{Element, Unclosed};

/// Coprocessor entries BOINC's request has room for (`MAX_RSC` less the CPU).
const MAX_ENTRIES: usize = 7;

/// Reads the children of `<coprocs>`.
pub fn parse_coprocs(e: &Element<'_>) -> Result<Coprocs, Unclosed> {
    let mut out = Coprocs::default();
    for c in e.children() {
        let c = c?;
        let entry = match c.name {
            "coproc_cuda" => Some(nvidia(&c)?),
            "coproc_ati" => Some(ati(&c)?),
            "coproc_intel_gpu" => Some(intel(&c)?),
            "coproc_apple_gpu" => Some(apple(&c)?),
            "coproc" => generic(&c)?,
            _ => None,
        };
        if let Some(entry) = entry
            && out.list.len() < MAX_ENTRIES
        {
            out.list.push(entry);
        }
    }
    Ok(out)
}

/// The elements every entry may have; true if `c` was one of them.
fn common(cp: &mut Coproc, c: &Element<'_>) -> Result<bool, Unclosed> {
    match c.name {
        "count" => cp.count = c.i64().clamp(0, i64::from(MAX_INSTANCES)) as i32,
        "peak_flops" => cp.peak_flops = c.f64(),
        "available_ram" => cp.available_ram = c.f64().max(0.0),
        "have_opencl" => cp.have_opencl = c.flag(),
        "req_secs" => cp.req_secs = c.f64(),
        "req_instances" => cp.req_instances = c.f64(),
        "estimated_delay" => cp.estimated_delay = c.f64(),
        "coproc_opencl" => cp.opencl = OpenclProps::parse(c)?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn nvidia(e: &Element<'_>) -> Result<Coproc, Unclosed> {
    let mut cp = Coproc::new("NVIDIA", Vendor::Nvidia(NvidiaInfo::default()));
    let mut n = NvidiaInfo::default();
    for c in e.children() {
        let c = c?;
        if common(&mut cp, &c)? {
            continue;
        }
        match c.name {
            "name" => n.name = c.text().into_owned(),
            "have_cuda" => n.have_cuda = c.flag(),
            "cudaVersion" => n.cuda_version = c.i64(),
            "drvVersion" => n.driver_version = c.i64(),
            "totalGlobalMem" => n.total_global_mem = c.f64().max(0.0),
            "clockRate" => n.clock_rate = c.i64().max(0),
            "major" => n.major = c.i64(),
            "minor" => n.minor = c.i64(),
            "multiProcessorCount" => n.multi_processor_count = c.i64().max(0),
            _ => {}
        }
    }
    if cp.peak_flops == 0.0 {
        cp.peak_flops = nvidia_peak_flops(&n, &cp.opencl);
    }
    if cp.available_ram == 0.0 {
        cp.available_ram = n.total_global_mem;
    }
    cp.vendor = Vendor::Nvidia(n);
    Ok(cp)
}

/// `COPROC_NVIDIA::set_peak_flops`: clock × multiprocessors × cores per multiprocessor × flops
/// per clock, by compute capability (OpenCL's figures where CUDA's are missing).
fn nvidia_peak_flops(n: &NvidiaInfo, cl: &OpenclProps) -> f64 {
    let mut major = n.major;
    let mut minor = n.minor;
    if cl.nv_compute_capability_major != 0 {
        major = cl.nv_compute_capability_major;
    }
    if cl.nv_compute_capability_minor != 0 {
        minor = cl.nv_compute_capability_minor;
    }
    let (flops_per_clock, cores_per_proc) = match major {
        0 => (0.0, 0.0),
        1 => (3.0, 8.0),
        2 => (2.0, if minor == 0 { 32.0 } else { 48.0 }),
        3 => (2.0, 192.0),
        5 => (2.0, 128.0),
        6 => (2.0, if minor == 0 { 64.0 } else { 128.0 }),
        7 => (2.0, 64.0),
        8 => (2.0, if minor == 0 { 64.0 } else { 128.0 }),
        _ => (2.0, 128.0),
    };
    if n.clock_rate != 0 {
        n.clock_rate as f64
            * 1000.0
            * n.multi_processor_count as f64
            * cores_per_proc
            * flops_per_clock
    } else if cl.nv_compute_capability_major != 0 {
        cl.max_compute_units * cores_per_proc * flops_per_clock * cl.max_clock_frequency * 1e6
    } else if cl.max_compute_units != 0.0 {
        cl.max_compute_units * 48.0 * 2.0 * cl.max_clock_frequency * 1e6
    } else {
        0.0
    }
}

fn ati(e: &Element<'_>) -> Result<Coproc, Unclosed> {
    let mut cp = Coproc::new("ATI", Vendor::Ati(AtiInfo::default()));
    let mut a = AtiInfo::default();
    for c in e.children() {
        let c = c?;
        if common(&mut cp, &c)? {
            continue;
        }
        match c.name {
            "name" => a.name = c.text().into_owned(),
            "have_cal" => a.have_cal = c.flag(),
            "CALVersion" => a.cal_version = c.text().into_owned(),
            "target" => a.target = c.i64(),
            "localRAM" => a.local_ram = c.f64().max(0.0),
            "engineClock" => a.engine_clock = c.f64().max(0.0),
            "wavefrontSize" => a.wavefront_size = c.f64().max(0.0),
            "numberOfSIMD" => a.number_of_simd = c.f64().max(0.0),
            "atirt_detected" => a.atirt_detected = c.flag(),
            "amdrt_detected" => a.amdrt_detected = c.flag(),
            _ => {}
        }
    }
    a.version_num = cal_version_num(&a.cal_version).unwrap_or(0);
    if cp.peak_flops == 0.0 {
        let cl = &cp.opencl;
        cp.peak_flops = if a.number_of_simd != 0.0 {
            a.number_of_simd * a.wavefront_size * 5.0 * a.engine_clock * 1e6
        } else if cl.amd_simd_per_compute_unit != 0.0 {
            cl.max_compute_units
                * cl.amd_simd_per_compute_unit
                * cl.amd_simd_width
                * cl.amd_simd_instruction_width
                * 2.0
                * cl.max_clock_frequency
                * 1e6
        } else {
            cl.max_compute_units * 16.0 * 5.0 * cl.max_clock_frequency * 1e6
        };
    }
    if cp.available_ram == 0.0 {
        cp.available_ram = a.local_ram * MEGA;
    }
    cp.vendor = Vendor::Ati(a);
    Ok(cp)
}

/// `major*10,000,000 + minor*10,000 + release` of a CAL version `a.b.c` (`ati_version_int`).
pub fn cal_version_num(v: &str) -> Option<i64> {
    let mut parts = v.trim().splitn(3, '.');
    let major: i64 = parts.next()?.trim().parse().ok()?;
    let minor: i64 = parts.next()?.trim().parse().ok()?;
    let release: String = parts
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let release: i64 = release.parse().ok()?;
    Some(
        major
            .saturating_mul(10_000_000)
            .saturating_add(minor.saturating_mul(10_000))
            .saturating_add(release),
    )
}

fn intel(e: &Element<'_>) -> Result<Coproc, Unclosed> {
    let mut cp = Coproc::new("intel_gpu", Vendor::Intel);
    for c in e.children() {
        let c = c?;
        common(&mut cp, &c)?;
    }
    if cp.peak_flops == 0.0 {
        cp.peak_flops = cp.opencl.max_compute_units * 8.0 * cp.opencl.max_clock_frequency * 1e6;
    }
    if cp.available_ram == 0.0 {
        cp.available_ram = cp.opencl.global_mem_size;
    }
    Ok(cp)
}

fn apple(e: &Element<'_>) -> Result<Coproc, Unclosed> {
    let mut cp = Coproc::new("apple_gpu", Vendor::Apple(AppleInfo::default()));
    let mut a = AppleInfo::default();
    for c in e.children() {
        let c = c?;
        if common(&mut cp, &c)? {
            continue;
        }
        match c.name {
            "model" => a.model = c.text().into_owned(),
            "metal_support" => a.metal_support = c.i64(),
            _ => {}
        }
    }
    if cp.peak_flops == 0.0 {
        cp.peak_flops = if cp.opencl.max_compute_units != 0.0 {
            cp.opencl.max_compute_units * 8.0 * cp.opencl.max_clock_frequency * 1e6
        } else {
            1e11
        };
    }
    cp.vendor = Vendor::Apple(a);
    Ok(cp)
}

/// A generic `<coproc>`; `None` without a `<type>`. BOINC reads neither `available_ram` nor
/// `estimated_delay` nor `have_opencl` here.
fn generic(e: &Element<'_>) -> Result<Option<Coproc>, Unclosed> {
    let mut cp = Coproc::new("", Vendor::Other);
    for c in e.children() {
        let c = c?;
        match c.name {
            "type" => cp.type_name = c.text().into_owned(),
            "count" | "peak_flops" | "req_secs" | "req_instances" | "coproc_opencl" => {
                common(&mut cp, &c)?;
            }
            _ => {}
        }
    }
    Ok((!cp.type_name.is_empty()).then_some(cp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::coprocs::ProcType;
    use crate::sched::elements::Children;

    fn coprocs(xml: &str) -> Coprocs {
        let wrapped = format!("<coprocs>{xml}</coprocs>");
        let e = Children::new(&wrapped).next().unwrap().unwrap();
        parse_coprocs(&e).unwrap()
    }

    #[test]
    fn nvidia_peak_speed_and_ram_default_as_in_boinc() {
        // The RTX 3060 of the digest: 1,777,000 kHz × 28 SMs × 128 cores × 2.
        let c = coprocs(
            "<coproc_cuda><count>1</count><name>NVIDIA GeForce RTX 3060</name>\
             <req_secs>25920</req_secs><req_instances>1</req_instances>\
             <cudaVersion>12020</cudaVersion><drvVersion>53504</drvVersion>\
             <totalGlobalMem>12884246528.000000</totalGlobalMem><clockRate>1777000</clockRate>\
             <major>8</major><minor>6</minor><multiProcessorCount>28</multiProcessorCount>\
             <coproc_opencl><name>x</name><opencl_device_version>OpenCL 3.0 CUDA</opencl_device_version>\
             </coproc_opencl></coproc_cuda>",
        );
        let (cp, n) = c.nvidia().unwrap();
        assert_eq!(cp.peak_flops, 1_777_000.0 * 1000.0 * 28.0 * 128.0 * 2.0);
        assert_eq!(cp.available_ram, 12_884_246_528.0);
        assert_eq!(cp.estimated_delay, -1.0, "not given");
        assert_eq!(n.cuda_version, 12020);
        assert_eq!(cp.opencl.device_version_int, 300);
        assert_eq!(cp.proc_type(), Some(ProcType::Nvidia));
    }

    #[test]
    fn amd_and_intel_defaults() {
        let c = coprocs(
            "<coproc_ati><count>2</count><CALVersion>1.4.1848</CALVersion><localRAM>1024</localRAM>\
             <engineClock>850</engineClock><wavefrontSize>64</wavefrontSize>\
             <numberOfSIMD>20</numberOfSIMD><atirt_detected/></coproc_ati>\
             <coproc_intel_gpu><count>1</count><coproc_opencl><max_compute_units>24</max_compute_units>\
             <max_clock_frequency>1150</max_clock_frequency><global_mem_size>3221225472</global_mem_size>\
             </coproc_opencl></coproc_intel_gpu>",
        );
        let (cp, a) = c.ati().unwrap();
        assert_eq!(a.version_num, 10_041_848);
        assert!(a.atirt_detected && !a.amdrt_detected);
        assert_eq!(cp.peak_flops, 20.0 * 64.0 * 5.0 * 850.0 * 1e6);
        assert_eq!(cp.available_ram, 1024.0 * MEGA);
        let intel = c.named(ProcType::Intel).unwrap();
        assert_eq!(intel.peak_flops, 24.0 * 8.0 * 1150.0 * 1e6);
        assert_eq!(intel.available_ram, 3_221_225_472.0);
        assert_eq!(c.total_count(), 3);
    }

    #[test]
    fn nonsense_is_made_harmless() {
        let c = coprocs(
            "<coproc_cuda><count>-3</count><peak_flops>nan</peak_flops></coproc_cuda>\
             <coproc><count>1000000</count><peak_flops>1e308</peak_flops></coproc>\
             <coproc><type>miner_asic</type><count>999</count><peak_flops>1e308</peak_flops></coproc>",
        );
        assert!(c.nvidia().is_none(), "a negative count is no GPU");
        assert_eq!(c.list.len(), 2, "a <coproc> without <type> is dropped");
        assert_eq!(c.list[1].count, MAX_INSTANCES);
        assert_eq!(c.total_count(), 64);
        assert!(c.total_peak_flops().is_finite());
        assert_eq!(
            c.by_type_name("miner_asic").unwrap().sane_peak_flops(),
            1e11
        );
        let many = "<coproc><type>t</type><count>1</count></coproc>".repeat(20);
        assert_eq!(coprocs(&many).list.len(), MAX_ENTRIES);
    }

    #[test]
    fn cal_versions() {
        assert_eq!(cal_version_num("1.4.1848"), Some(10_041_848));
        assert_eq!(cal_version_num("1.4"), None);
        assert_eq!(cal_version_num("x.y.z"), None);
    }
}
