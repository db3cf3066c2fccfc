//! The gRPC contracts between Totilove's services, generated from `proto/`.
//!
//! Types here are wire types: services and the gateway convert them to their
//! own domain types at the edge.

/// Every service's descriptors (`FileDescriptorSet`, encoded), for gRPC
/// reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/totilove_descriptor.bin"));

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("totilove.auth.v1");
    }
}

pub mod message {
    pub mod v1 {
        tonic::include_proto!("totilove.message.v1");
    }
}

pub mod presence {
    pub mod v1 {
        tonic::include_proto!("totilove.presence.v1");
    }
}
