//! Writes a synthetic 1688 buyer order export with N lines, for the benchmark,
//! and with a third argument the supplier directory of its 200 sellers.
//!
//!     cargo run --release --example gen_export -- 100000 /tmp/export.xlsx /tmp/suppliers.csv
//!
//! A fourth argument numbers the orders after that many others, so that
//! several exports of one long month hold distinct orders:
//!
//!     gen_export 250000 /tmp/e2.xlsx /tmp/suppliers.csv 125000
//!
//! Orders have 1 to 3 lines; every order reconciles (Σ 单价×数量 + 运费 +
//! 涨价或折扣 = 实付款). Amounts are computed in integer cents. Text is
//! written as inline strings, as 1688's own exports are.

use rust_xlsxwriter::{Workbook, XlsxError};

const HEADERS: [&str; 49] = [
    "订单编号",
    "买家公司名",
    "买家会员名",
    "卖家公司名",
    "卖家会员名",
    "货品总价(元)",
    "运费(元)",
    "涨价或折扣(元)",
    "实付款(元)",
    "订单状态",
    "订单创建时间",
    "订单付款时间",
    "发货方",
    "收货人姓名",
    "收货地址",
    "邮编",
    "联系电话",
    "联系手机",
    "货品标题",
    "单价(元)",
    "数量",
    "单位",
    "货号",
    "型号",
    "Offer ID",
    "SKU ID",
    "物料编号",
    "单品货号",
    "货品种类",
    "买家留言",
    "物流公司",
    "运单号",
    "发票：购货单位名称",
    "发票：纳税人识别号",
    "发票：地址、电话",
    "发票：开户行及账号",
    "发票收取地址",
    "关联编号",
    "代理商姓名",
    "代理商联系方式",
    "是否代发订单",
    "代发服务商id",
    "微商订单号",
    "下单批次号",
    "下游渠道",
    "下游订单号",
    "下单公司主体",
    "发起人登录名",
    "是否发起免密支付(1:淘货源诚e赊免密支付2:批量下单免密支付)",
];

const STATUSES: [&str; 5] = [
    "交易成功",
    "等待买家确认收货",
    "交易成功",
    "已收货",
    "交易关闭",
];
const UNITS: [&str; 5] = ["个", "件", "套", "米", "盒"];

fn money(cents: i64) -> f64 {
    // Exact for the magnitudes used here; the file stores doubles anyway.
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
        .parse()
        .expect("a plain decimal")
}

#[allow(dead_code)]
fn main() -> Result<(), XlsxError> {
    let mut args = std::env::args().skip(1);
    let lines: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let path = args.next().unwrap_or_else(|| "export.xlsx".into());
    let suppliers = args.next();
    let after: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let orders = write_export_after(lines, &path, after)?;
    eprintln!("{path}: {lines} lines, {orders} orders");
    if let Some(suppliers) = suppliers {
        write_suppliers(&suppliers).map_err(XlsxError::IoError)?;
        eprintln!("{suppliers}: {SELLERS} sellers");
    }
    Ok(())
}

/// The sellers the export names: seller0, seller1, ….
const SELLERS: u64 = 200;

/// Writes a supplier directory (`suppliers.csv`) with a phone and an address
/// for each of the export's sellers.
pub fn write_suppliers(path: &str) -> std::io::Result<()> {
    let mut text = String::from("member_id,name,phone,address0,city,state,country\n");
    for seller in 0..SELLERS {
        text.push_str(&format!(
            "seller{seller},示例供应商{seller}有限公司,+86579855{seller:05},No. {seller} Example Road,Yiwu,Zhejiang,CHN\n"
        ));
    }
    std::fs::write(path, text)
}

/// Writes the export and returns how many orders it holds. Also used by the
/// integration tests (`#[path]`), so that they and the benchmark share one generator.
pub fn write_export(lines: u32, path: &str) -> Result<u64, XlsxError> {
    write_export_after(lines, path, 0)
}

/// As [`write_export`], its orders numbered after the first `after`
/// orders (of other exports).
pub fn write_export_after(lines: u32, path: &str, after: u64) -> Result<u64, XlsxError> {
    let mut workbook = Workbook::new();
    // Constant memory mode writes inline strings (`t="inlineStr"`).
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("sheet1")?;
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h)?;
    }
    let mut row = 1u32;
    let mut order = after;
    while row <= lines {
        order += 1;
        let count = (1 + order % 3).min(u64::from(lines - row + 1)) as u32;
        let prices: Vec<(i64, i64)> = (0..count)
            .map(|i| {
                (
                    100 + ((order * 37 + u64::from(i) * 11) % 5000) as i64,
                    1 + ((order + u64::from(i)) % 40) as i64,
                )
            })
            .collect();
        let goods: i64 = prices.iter().map(|(p, q)| p * q).sum();
        let shipping = ((order % 4) * 500) as i64;
        let adjustment = if order.is_multiple_of(5) {
            -(goods / 50)
        } else {
            0
        };
        let paid = goods + shipping + adjustment;
        for (i, (price, qty)) in prices.iter().enumerate() {
            let r = row + i as u32;
            if i == 0 {
                sheet.write_string(r, 0, format!("{}", 2_410_000_000_000_000_000u64 + order))?;
                sheet.write_string(r, 1, "Contoh Niaga Sdn Bhd")?;
                sheet.write_string(r, 2, "contohniaga2024")?;
                sheet.write_string(r, 3, format!("示例供应商{}有限公司", order % SELLERS))?;
                sheet.write_string(r, 4, format!("seller{}", order % SELLERS))?;
                sheet.write_number(r, 5, money(goods))?;
                sheet.write_number(r, 6, money(shipping))?;
                sheet.write_number(r, 7, money(adjustment))?;
                sheet.write_number(r, 8, money(paid))?;
                sheet.write_string(r, 9, STATUSES[(order % 5) as usize])?;
                sheet.write_string(r, 10, "2026-10-10 09:15:32")?;
                sheet.write_string(r, 11, "2026-10-10 09:17:05")?;
                sheet.write_string(r, 13, "集运仓 李四(MY8866)")?;
                sheet.write_string(r, 14, "广东省 广州市 白云区 示例路88号 集运仓A区 MY8866")?;
                sheet.write_string(r, 15, "510000")?;
                sheet.write_string(r, 17, "13800000000")?;
                sheet.write_number(r, 28, f64::from(count))?;
                sheet.write_string(r, 30, "中通快递(ZTO)")?;
                sheet.write_string(r, 31, format!("735{order:011}"))?;
                sheet.write_string(r, 40, "否")?;
            }
            sheet.write_string(r, 18, format!("示例商品 {order}-{i} 不锈钢保温杯 户外便携"))?;
            // Unit prices with 2 decimals (cents); quantities whole.
            sheet.write_number(r, 19, money(*price))?;
            sheet.write_number(r, 20, *qty as f64)?;
            sheet.write_string(r, 21, UNITS[((order + i as u64) % 5) as usize])?;
            sheet.write_string(r, 22, format!("SKU-{order}-{i}"))?;
            sheet.write_string(r, 23, "颜色:银色;容量:500ml")?;
            sheet.write_string(r, 24, format!("7{order:011}"))?;
            sheet.write_string(r, 25, format!("5{order:012}"))?;
        }
        row += count;
    }
    workbook.save(path)?;
    Ok(order - after)
}
